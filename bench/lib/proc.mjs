// Child processes of the benchmark: `wrangler dev` instances on 127.0.0.1, their workerd processes, and the
// /proc readings (peak RSS, CPU time) taken from them. Every child is started in its own process group and
// killed with it when the benchmark exits, normally or not.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { detachDevtools } from "./inspector.mjs";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

/** No telemetry, no update check, no Request.cf download, no file watching: the run talks to 127.0.0.1 only. */
export const CHILD_ENV = {
  ...process.env,
  CI: "true",
  NO_COLOR: "1",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_CI_DISABLE_CONFIG_WATCHING: "true",
};

const live = new Set();
const tempDirs = new Set();

function killAll() {
  for (const child of live) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, stopping every child`);
    killAll();
    process.exit(130);
  });
}

/** Removes a directory when the benchmark exits (wrangler's own .wrangler/ beside a bench config, say). */
export function removeOnExit(dir) {
  tempDirs.add(dir);
}

/** A fresh temporary directory, removed when the benchmark exits. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/**
 * A copy of the service's source as it is now (src/, migrations/, the configs, the counting build), under
 * bench/results/tmp/ so that node_modules still resolves. `wrangler dev` rebuilds and restarts the Worker whenever
 * a watched file changes; running from a snapshot keeps colleagues' edits to src/ from restarting it mid-run, and
 * the hash says exactly which code was measured.
 */
export function snapshotSource() {
  const base = join(ROOT, "bench", "results", "tmp");
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, "source-"));
  tempDirs.add(dir);
  for (const p of ["src", "migrations", "wrangler.toml", "tsconfig.json", "package.json", "bench/cost"]) {
    cpSync(join(ROOT, p), join(dir, p), { recursive: true, filter: (from) => !from.includes(".wrangler") });
  }
  const hash = createHash("sha256");
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const f = join(d, name);
      if (statSync(f).isDirectory()) walk(f);
      else hash.update(f.slice(dir.length)).update(readFileSync(f));
    }
  };
  walk(join(dir, "src"));
  walk(join(dir, "migrations"));
  return { dir, src_sha256: hash.digest("hex").slice(0, 16) };
}

/**
 * Bundles a snapshot's Worker (and its counting build) once, with wrangler's own bundler (`deploy --dry-run`), and
 * writes configs that run the bundle as it is (`no_bundle`). `wrangler dev` then has nothing to rebuild: neither an
 * edit to src/ nor a colleague's `npm install` touching node_modules restarts the Worker mid-run.
 */
export function bundleSnapshot(dir) {
  const configs = {};
  for (const [name, rel] of [
    ["service", "wrangler.toml"],
    ["cost", "bench/cost/wrangler.toml"],
  ]) {
    const config = join(dir, rel);
    const home = dirname(config);
    const out = spawnSync(WRANGLER, ["deploy", "--dry-run", "--outdir", "dist", "-c", config], { cwd: home, env: CHILD_ENV, encoding: "utf8" });
    if (out.status !== 0) throw new Error(`bundling ${rel} failed:\n${out.stdout}\n${out.stderr}`);
    const toml = readFileSync(config, "utf8");
    const main = /^main\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
    const bundled = `dist/${main
      .split("/")
      .pop()
      .replace(/\.(ts|mjs|js)$/, ".js")}`;
    const frozen = join(home, "wrangler.bench.toml");
    writeFileSync(frozen, toml.replace(/^main\s*=.*$/m, `main = "${bundled}"\nno_bundle = true`));
    configs[name] = frozen;
  }
  return configs;
}

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `wrangler dev -c <config>` on 127.0.0.1 with fresh local state (its own --persist-to directory, D1
 * migrations applied first when `migrate`), and waits until `readyPath` answers.
 */
export async function startWrangler({ name, config, vars = {}, migrate = false, readyPath = "/", timeoutMs = 90_000, logLevel = "warn" }) {
  const port = await freePort();
  const inspector = await freePort();
  const persistDir = tempDir(`bench-${name}-`);
  if (migrate) {
    const m = spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "-c", config, "--persist-to", persistDir], {
      cwd: ROOT,
      env: CHILD_ENV,
      encoding: "utf8",
    });
    if (m.status !== 0) throw new Error(`${name}: applying the D1 migrations failed:\n${m.stdout}\n${m.stderr}`);
  }
  const args = [
    "dev",
    "-c",
    config,
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--persist-to",
    persistDir,
    "--inspector-port",
    String(inspector),
    "--show-interactive-dev-session=false",
    "--log-level",
    logLevel,
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = spawn(WRANGLER, args, { cwd: ROOT, env: CHILD_ENV, stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(child);
  let log = "";
  const keep = (d) => {
    log += d;
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name}: wrangler dev exited early:\n${log}`);
    if (Date.now() > deadline) throw new Error(`${name}: wrangler dev did not answer within ${timeoutMs} ms:\n${log}`);
    try {
      const r = await fetch(`${url}${readyPath}`);
      await r.arrayBuffer();
      if (r.status < 500) break;
    } catch {}
    await sleep(200);
  }
  const instance = {
    name,
    url,
    port,
    pid: child.pid,
    log: () => log,
    /** MiB of SQLite files (the local D1 and the Durable Objects' storage) under this instance's state directory. */
    storageMib() {
      let bytes = 0;
      const walk = (dir) => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          const p = join(dir, e.name);
          if (e.isDirectory()) walk(p);
          else if (/\.sqlite(-wal)?$/.test(e.name)) bytes += statSync(p).size;
        }
      };
      try {
        walk(persistDir);
      } catch {}
      return bytes / 1048576;
    },
    /** The workerd that runs the Worker itself (wrangler also runs a second one, its proxy, bound to `port`). */
    workerd() {
      const procs = descendants(child.pid).filter((p) => p.comm === "workerd");
      const user = procs.find((p) => !p.cmdline.includes(`entry=127.0.0.1:${port}`)) ?? procs[0];
      const proxy = procs.find((p) => p !== user) ?? null;
      return { user: user?.pid ?? null, proxy: proxy?.pid ?? null };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {}
        await Promise.race([exited, sleep(5000)]);
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
      live.delete(child);
      rmSync(persistDir, { recursive: true, force: true });
      tempDirs.delete(persistDir);
    },
  };
  // Measure the runtime as deployed: without wrangler's DevTools session (see detachDevtools).
  instance.devtoolsDetached = await detachDevtools(instance.workerd().user);
  return instance;
}

/** Every process below `rootPid`, from /proc. */
export function descendants(rootPid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(entry), comm });
      children.set(ppid, list);
    } catch {}
  }
  const out = [];
  const walk = (pid) => {
    for (const c of children.get(pid) ?? []) {
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${c.pid}/cmdline`, "utf8").replaceAll("\0", " ");
      } catch {}
      out.push({ ...c, cmdline });
      walk(c.pid);
    }
  };
  walk(rootPid);
  return out;
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB. */
export function memory(pid) {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {}
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
  // RssAnon is what the process allocated (V8 heaps, SQLite caches, buffers); RssFile is file pages mapped into it,
  // which includes the SQLite database files of the local D1 and of the Durable Objects as they grow.
  return { rss_mib: kb("VmRSS") / 1024, hwm_mib: kb("VmHWM") / 1024, anon_mib: kb("RssAnon") / 1024, file_mib: kb("RssFile") / 1024 };
}

/** Resets VmHWM to the current RSS (Linux: "5" > /proc/<pid>/clear_refs); false where that is not allowed. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const TICK_MS = 1000 / (Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100);

/** User + system CPU time of a process so far, in ms. */
export function cpuMs(pid) {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak seen. */
export function rssSampler(pid, everyMs = 100) {
  let peak = 0;
  let peakAnon = 0;
  let peakFile = 0;
  const take = () => {
    try {
      const m = memory(pid);
      peak = Math.max(peak, m.rss_mib);
      peakAnon = Math.max(peakAnon, m.anon_mib);
      peakFile = Math.max(peakFile, m.file_mib);
    } catch {}
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    /** Peak VmRSS; `anon` and `file` are the peaks of its two parts. */
    stop() {
      clearInterval(timer);
      take();
      return { rss: peak, anon: peakAnon, file: peakFile };
    },
  };
}

/** The 1-, 5- and 15-minute load averages. */
export function loadAverage() {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
}
