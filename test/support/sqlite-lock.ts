import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

/** True when the sqlite3 command-line shell is installed (the D1 outage needs it). */
export function haveSqliteShell(): boolean {
  return spawnSync("sqlite3", ["-version"], { stdio: "ignore" }).status === 0;
}

/** The SQLite file behind the local D1 database of a `wrangler dev --persist-to <dir>`. */
export function localD1File(persistDir: string): string {
  const dir = join(persistDir, "v3", "d1", "miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (files.length !== 1) throw new Error(`expected one local D1 database in ${dir}, found ${files.join(", ") || "none"}`);
  return join(dir, files[0]);
}

/** The SQLite files of the webhook queues' Durable Objects (one per webhook that has been configured). */
export function queueObjectFiles(persistDir: string): string[] {
  const dir = join(persistDir, "v3", "do", "broxiai-webhooks-WebhookQueue");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")
    .map((f) => join(dir, f));
}

/**
 * Makes the local D1 unavailable: another process takes SQLite's EXCLUSIVE lock on its file, so every D1
 * query of the running service fails (SQLITE_BUSY, surfacing as D1_ERROR) until `release()`. This is a fault
 * injected from outside, into the unchanged service under `wrangler dev`.
 */
export function lockD1(persistDir: string): Promise<{ release(): Promise<void> }> {
  return lockSqlite(localD1File(persistDir));
}

/** Holds SQLite's EXCLUSIVE lock on a file (a D1 database or a Durable Object's storage) until `release()`. */
export async function lockSqlite(file: string): Promise<{ release(): Promise<void> }> {
  const shell = spawn("sqlite3", [file], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  shell.stdout.on("data", (d) => (out += d));
  shell.stderr.on("data", (d) => (out += d));
  const exited = new Promise<void>((resolve) => shell.once("exit", () => resolve()));
  shell.stdin.write(".timeout 10000\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n");
  const deadline = Date.now() + 15_000;
  while (!out.includes("locked") && Date.now() < deadline) {
    if (shell.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!out.includes("locked")) {
    shell.kill("SIGKILL");
    throw new Error(`could not lock ${file}: ${out}`);
  }
  return {
    release: async () => {
      shell.stdin.end("ROLLBACK;\n.quit\n");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (shell.exitCode === null) shell.kill("SIGKILL");
    },
  };
}
