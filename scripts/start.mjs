#!/usr/bin/env node
// `npm start`: apply the local D1 migrations, write .dev.vars with fresh secrets when none exists (printing the
// platform token once), then run `wrangler dev`. Extra arguments pass through: `npm start -- --port 8790`.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const args = process.argv.slice(2);
// A custom --persist-to must reach the migrations too, or they would land in another local database.
const persistAt = args.indexOf("--persist-to");
const persist = persistAt >= 0 ? ["--persist-to", args[persistAt + 1]] : [];

const varsFile = join(root, ".dev.vars");
if (!existsSync(varsFile)) {
  const token = `bxp_${randomBytes(24).toString("base64url")}`;
  writeFileSync(
    varsFile,
    [
      "# Local secrets for `wrangler dev`, written by `npm start`. Never commit this file.",
      `PLATFORM_TOKEN=${token}`,
      `ENCRYPTION_KEY=${randomBytes(32).toString("base64")}`,
      "# Local work sends to http://127.0.0.1 receivers; production keeps this false.",
      "ALLOW_PRIVATE_DESTINATIONS=true",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  console.log(`\nWrote .dev.vars with fresh secrets. Your local platform token (shown once):\n\n  ${token}\n`);
}

// The main database, and each log shard wrangler.toml binds (LOG_DB_1, …): every one gets the same schema.
const shards = [...readFileSync(join(root, "wrangler.toml"), "utf8").matchAll(/^\s*binding\s*=\s*"(LOG_DB_\d+)"/gm)].map((m) => m[1]);
for (const binding of ["DB", ...shards]) {
  const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", binding, "--local", ...persist], {
    cwd: root,
    env: { ...env, CI: "true" },
    stdio: "inherit",
  });
  if (migrate.status !== 0) {
    console.error(`Applying the D1 migrations to ${binding} failed; see above.`);
    process.exit(migrate.status ?? 1);
  }
}

const dev = spawn(wrangler, ["dev", ...args], { cwd: root, env, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
