import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Launched, launchDev } from "../../bench/lib/wrangler.mjs";

export { freePort };

export const TEST_PLATFORM_TOKEN = "e2e-platform-token-0123456789abcdef";
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");

export interface DevServer {
  url: string;
  port: number;
  persistDir: string;
  token: string;
  output(): string;
  /** Stops the server: SIGTERM, or SIGKILL to simulate a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and state (after a crash, say). */
  restart(): Promise<void>;
  /** Deletes the state directory; call after stop. */
  cleanup(): void;
  /** A request to the service. */
  fetch(path: string, init?: RequestInit & { json?: unknown; bearer?: string }): Promise<Response>;
}

/**
 * Starts the service the way README says (`npm start`, i.e. scripts/start.mjs: migrations, then `wrangler dev`)
 * on a free port with its own state directory, and waits until it answers.
 */
export async function startDevServer(opts: { vars?: Record<string, string>; port?: number } = {}): Promise<DevServer> {
  const port = opts.port ?? (await freePort());
  const persistDir = mkdtempSync(join(tmpdir(), "broxiai-e2e-"));
  const vars = { PLATFORM_TOKEN: TEST_PLATFORM_TOKEN, ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, ALLOW_PRIVATE_DESTINATIONS: "true", ...opts.vars };
  let running: Launched | null = null;
  let log = "";

  // The launcher shared with the benchmark (bench/lib/wrangler.mjs) adds the port, state, inspector and vars flags.
  const launch = async () => {
    running = await launchDev({
      command: process.execPath,
      args: ["scripts/start.mjs"],
      port,
      persistDir,
      vars,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      readyPath: "/v1/event-types",
      onOutput: (chunk) => (log += chunk),
    });
  };

  // The whole process group: npm start, wrangler, and workerd beneath it.
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const r = running;
    running = null;
    await r?.stop(signal, 10_000);
  };

  try {
    await launch();
  } catch (err) {
    // A server that never became ready must not outlive the test that started it (the launcher has killed it).
    rmSync(persistDir, { recursive: true, force: true });
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    persistDir,
    token: TEST_PLATFORM_TOKEN,
    output: () => log,
    stop,
    restart: launch,
    cleanup: () => rmSync(persistDir, { recursive: true, force: true }),
    fetch: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (init.bearer) headers.set("authorization", `Bearer ${init.bearer}`);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        headers.set("content-type", "application/json");
      }
      return fetch(`${url}${path}`, { ...init, headers, body });
    },
  };
}
