import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { type DevServer, startDevServer } from "./dev-server";
import { startReceiver } from "./receiver";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** What a browser test runs against: the service as `npm start` runs it, a real receiver, Debian's Chromium. */
export interface BrowserStack {
  server: DevServer;
  receiver: Awaited<ReturnType<typeof startReceiver>>;
  browser: Browser;
  /** A full-page screenshot into the test's artifacts folder, so a failure can be looked at, not just read about. */
  shot: (page: Page, name: string) => Promise<Buffer>;
}

/**
 * Starts the stack before the file's tests and stops it after them. The fields are filled in beforeAll, so read them
 * inside tests. Started with allSettled, so whatever did start is still stopped when something else fails to.
 */
export function browserStack(artifacts: string): BrowserStack {
  const stack = { shot: (page: Page, name: string) => page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true }) } as BrowserStack;
  beforeAll(async () => {
    // npm test provisions it first (scripts/provision.mjs); a missing browser fails here, never skips.
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: run \`node scripts/provision.mjs\` (npm test does), or set CHROMIUM_PATH.`);
    mkdirSync(artifacts, { recursive: true });
    const started = await Promise.allSettled([
      startDevServer(),
      startReceiver(),
      // Each launch gets a new empty profile (playwright's own temporary --user-data-dir, removed on close).
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      }),
    ]);
    const [s, r, b] = started;
    if (s.status === "fulfilled") stack.server = s.value;
    if (r.status === "fulfilled") stack.receiver = r.value;
    if (b.status === "fulfilled") stack.browser = b.value;
    for (const result of started) if (result.status === "rejected") throw result.reason;
  });
  afterAll(async () => {
    await stack.browser?.close();
    await stack.server?.stop();
    stack.server?.cleanup();
    await stack.receiver?.close();
  });
  return stack;
}

/** Reloads until `ready` holds: the queues work on their own, so the page catches up within seconds. */
export async function reloadUntil(page: Page, ready: () => Promise<boolean>, what: string, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
    await page.reload();
  }
}
