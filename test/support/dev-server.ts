import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TEST_PLATFORM_TOKEN = "e2e-platform-token-0123456789abcdef";
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

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
  let child: ChildProcess | null = null;
  let log = "";

  const launch = async () => {
    const inspector = await freePort();
    const args = [
      "scripts/start.mjs",
      "--port",
      String(port),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      persistDir,
      "--inspector-port",
      String(inspector),
      "--show-interactive-dev-session=false",
    ];
    for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
    child = spawn(process.execPath, args, {
      cwd: process.cwd(),
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout?.on("data", (d) => (log += d));
    child.stderr?.on("data", (d) => (log += d));
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/v1/event-types`);
        if (r.ok) return;
      } catch {}
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`wrangler dev did not start within 90 s:\n${log}`);
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    // The whole process group: npm start, wrangler, and workerd beneath it.
    try {
      process.kill(-(c.pid as number), signal);
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    try {
      process.kill(-(c.pid as number), "SIGKILL");
    } catch {}
    child = null;
  };

  try {
    await launch();
  } catch (err) {
    // A server that never became ready must not outlive the test that started it.
    await stop("SIGKILL");
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
