// The benchmark leaves nothing behind: every `wrangler dev` group it started is killed and every temporary directory
// removed when it exits, normally, on an error, on a signal, or at its hard time limit.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killAll } from "./wrangler.mjs";

const tempDirs = new Set();

function cleanUp() {
  killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.on("exit", cleanUp);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, stopping every child`);
    cleanUp();
    process.exit(130);
  });
}

/** Removes a directory when the benchmark exits (wrangler's own .wrangler/ beside a bench config, say). */
export function removeOnExit(dir) {
  tempDirs.add(dir);
}

/** Forgets a directory the caller has removed itself. */
export function forget(dir) {
  tempDirs.delete(dir);
}

/** A fresh temporary directory, removed when the benchmark exits. */
export function tempDir(prefix, base = tmpdir()) {
  const dir = mkdtempSync(join(base, prefix));
  tempDirs.add(dir);
  return dir;
}
