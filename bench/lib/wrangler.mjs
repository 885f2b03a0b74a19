// One way to run `wrangler dev` on 127.0.0.1, shared by the benchmark (bench/lib/instance.mjs) and the end-to-end
// tests (test/support/dev-server.ts): a free port, its own state directory, a fresh inspector port, the process in a
// group of its own (wrangler starts workerd beneath it, so only the group dies whole), ready once a path answers.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

/** No telemetry, no update check, no Request.cf download, no config watching: nothing leaves 127.0.0.1. */
export const QUIET_ENV = {
  ...process.env,
  CI: "true",
  NO_COLOR: "1",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_CI_DISABLE_CONFIG_WATCHING: "true",
};

/** Every process group started here and not stopped yet, so that an exiting caller can kill what is left. */
const live = new Set();

/** SIGKILLs every group still running (the benchmark calls this on exit, whatever the cause). */
export function killAll() {
  for (const child of live) signalGroup(child, "SIGKILL");
  live.clear();
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {}
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command args…` followed by the flags every local run needs (--port, --ip 127.0.0.1, --persist-to, a
 * fresh --inspector-port, no interactive session, each var as --var), and resolves once GET `readyPath` answers 2xx.
 * `command` is wrangler itself (args `dev -c <config>`) or a script that runs it (`node scripts/start.mjs`). A
 * process that exits first or does not answer within `timeoutMs` is killed, and the error carries its output.
 */
export async function launchDev({
  command,
  args = [],
  port,
  persistDir,
  vars = {},
  extraArgs = [],
  env = QUIET_ENV,
  cwd = ROOT,
  readyPath = "/",
  timeoutMs = 90_000,
  maxOutput = 1_000_000,
  onOutput,
  name = "wrangler dev",
}) {
  const inspector = await freePort();
  const all = [...args, "--port", String(port), "--ip", "127.0.0.1", "--persist-to", persistDir, "--inspector-port", String(inspector)];
  all.push("--show-interactive-dev-session=false", ...extraArgs);
  for (const [k, v] of Object.entries(vars)) all.push("--var", `${k}:${v}`);
  const child = spawn(command, all, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(child);
  let output = "";
  const keep = (d) => {
    output += d;
    if (output.length > maxOutput) output = output.slice(-maxOutput / 2);
    onOutput?.(String(d));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);

  const stop = async (signal = "SIGTERM", graceMs = 10_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      signalGroup(child, signal);
      await Promise.race([exited, sleep(graceMs)]);
    }
    // Whatever the first signal was, nothing of the group outlives stop(): workerd may linger after wrangler.
    signalGroup(child, "SIGKILL");
    live.delete(child);
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = child.exitCode !== null ? `${name} exited early` : Date.now() > deadline ? `${name} did not answer within ${timeoutMs} ms` : null;
    if (failed) {
      await stop("SIGKILL", 0);
      throw new Error(`${failed}:\n${output}`);
    }
    try {
      const res = await fetch(`${url}${readyPath}`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {}
    await sleep(200);
  }
  return { url, port, pid: child.pid, output: () => output, stop, running: () => child.exitCode === null && child.signalCode === null };
}
