// A `wrangler dev` instance of the benchmark: fresh local state (D1 migrations applied first when asked), started by
// the shared launcher, wrangler's DevTools session taken away, and the readings the phases take from it.
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { forget, tempDir } from "./cleanup.mjs";
import { detachDevtools } from "./inspector.mjs";
import { cpuMs, descendants } from "./proc.mjs";
import { freePort, launchDev, QUIET_ENV, ROOT, WRANGLER } from "./wrangler.mjs";

/** Starts `wrangler dev -c <config>` on 127.0.0.1 and waits until `readyPath` answers. */
export async function startWrangler({ name, config, vars = {}, migrate = false, readyPath = "/", timeoutMs = 90_000 }) {
  const port = await freePort();
  const persistDir = tempDir(`bench-${name}-`);
  if (migrate) {
    const m = spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "-c", config, "--persist-to", persistDir], {
      cwd: ROOT,
      env: QUIET_ENV,
      encoding: "utf8",
    });
    if (m.status !== 0) throw new Error(`${name}: applying the D1 migrations failed:\n${m.stdout}\n${m.stderr}`);
  }
  const dev = await launchDev({
    name: `${name}: wrangler dev`,
    command: WRANGLER,
    args: ["dev", "-c", config],
    port,
    persistDir,
    vars,
    extraArgs: ["--log-level", "warn"],
    readyPath,
    timeoutMs,
    maxOutput: 200_000,
  });
  const instance = {
    name,
    url: dev.url,
    port,
    pid: dev.pid,
    log: dev.output,
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
      const procs = descendants(dev.pid).filter((p) => p.comm === "workerd");
      const user = procs.find((p) => !p.cmdline.includes(`entry=127.0.0.1:${port}`)) ?? procs[0];
      const proxy = procs.find((p) => p !== user) ?? null;
      return { user: user?.pid ?? null, proxy: proxy?.pid ?? null };
    },
    /** CPU ms of the instance so far: in all, and by process (the Worker's workerd, the proxy workerd, wrangler's Node). */
    cpu() {
      const { user, proxy } = instance.workerd();
      const total = [dev.pid, ...descendants(dev.pid).map((p) => p.pid)].reduce((sum, pid) => sum + cpuMs(pid), 0);
      const workerd = cpuMs(user);
      const proxyMs = cpuMs(proxy);
      return { total, workerd, proxy: proxyMs, wrangler: total - workerd - proxyMs };
    },
    async stop() {
      await dev.stop("SIGTERM", 5000);
      rmSync(persistDir, { recursive: true, force: true });
      forget(persistDir);
    },
  };
  // Measure the runtime as deployed: without wrangler's DevTools session (see detachDevtools).
  instance.devtoolsDetached = await detachDevtools(instance.workerd().user);
  return instance;
}

/** CPU ms per unit between two `cpu()` readings, by process. */
export function cpuPer(before, after, units) {
  return Object.fromEntries(Object.keys(before).map((k) => [k, (after[k] - before[k]) / Math.max(1, units)]));
}
