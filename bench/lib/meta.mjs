// What a run records about itself: the machine and its load, the versions of everything measured, and which source.
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { round } from "./load.mjs";
import { loadAverage } from "./proc.mjs";
import { ROOT } from "./wrangler.mjs";

const version = (p) => {
  try {
    return JSON.parse(readFileSync(join(ROOT, p), "utf8")).version;
  } catch {
    return null;
  }
};

const git = (cmd) => {
  try {
    return execSync(cmd, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return null;
  }
};

/** The run's header: date, machine, load average, versions of Node, wrangler and workerd, the commit. */
export function runMeta(quick) {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  return {
    date: new Date().toISOString(),
    quick,
    machine: {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memory_gib: round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      load_average_before: loadAverage(),
    },
    versions: {
      node: process.version,
      wrangler: version("node_modules/wrangler/package.json"),
      workerd:
        version("node_modules/wrangler/node_modules/@cloudflare/workerd-linux-64/package.json") ??
        version("node_modules/@cloudflare/workerd-linux-64/package.json"),
      miniflare: version("node_modules/wrangler/node_modules/miniflare/package.json") ?? version("node_modules/miniflare/package.json"),
      compatibility_date: /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? null,
      commit: git("git rev-parse --short HEAD"),
    },
  };
}

/** True when src/, migrations/ or wrangler.toml differ from the commit (the report says so). */
export function sourceDirty() {
  const status = git("git status --porcelain -- src migrations wrangler.toml");
  return status === null ? null : status.length > 0;
}
