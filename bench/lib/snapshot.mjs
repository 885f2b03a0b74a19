// What the benchmark measures: a copy of the service's source as it is now, bundled once, so that a colleague's edit
// to src/ or an `npm install` cannot restart the Worker mid-run, and a hash that says exactly which code was measured.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDir } from "./cleanup.mjs";
import { QUIET_ENV, ROOT, WRANGLER } from "./wrangler.mjs";

/**
 * A copy of src/, migrations/, the configs and the counting build under bench/results/tmp/ (so that node_modules
 * still resolves), with the sha256 of its src/ and migrations/.
 */
export function snapshotSource() {
  const base = join(ROOT, "bench", "results", "tmp");
  mkdirSync(base, { recursive: true });
  const dir = tempDir("source-", base);
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
 * Bundles a snapshot's Worker and its counting build once, with wrangler's own bundler (`deploy --dry-run`), and
 * writes configs that run each bundle as it is (`no_bundle`): `wrangler dev` then has nothing to rebuild. Returns
 * the configs and the bundles (the CPU profile maps its samples to source modules through the bundle's comments).
 */
export function bundleSnapshot(dir) {
  const configs = {};
  const bundles = {};
  for (const [name, rel] of [
    ["service", "wrangler.toml"],
    ["cost", "bench/cost/wrangler.toml"],
  ]) {
    const config = join(dir, rel);
    const home = dirname(config);
    const out = spawnSync(WRANGLER, ["deploy", "--dry-run", "--outdir", "dist", "-c", config], { cwd: home, env: QUIET_ENV, encoding: "utf8" });
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
    bundles[name] = join(home, bundled);
  }
  return { ...configs, bundles };
}
