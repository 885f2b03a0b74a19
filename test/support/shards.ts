import { env } from "cloudflare:workers";
import type { Env } from "../../src/config";
import { logDb } from "../../src/shards";
import { newAccount } from "./api";

// The workerd suite runs with the log in two shards (vitest.config.ts: LOG_SHARDS=2, DB and LOG_DB_1). A test that
// reads the log from D1 reads it where the service put it, through these.

/** The log shards the suite runs with. */
export const SHARDS = [0, 1] as const;

/** Every log database, for a test that counts what the whole log holds. */
export const logDbs = (): D1Database[] => SHARDS.map((n) => logDb(env, n));

/** The log shard the service chose for this account when it was created. */
export async function shardOf(accountId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT log_shard FROM accounts WHERE id = ?").bind(accountId).first<{ log_shard: number }>();
  if (!row) throw new Error(`no account ${accountId}`);
  return row.log_shard;
}

/** The D1 database holding this account's log (events, deliveries, attempts). */
export async function logDbOf(accountId: string): Promise<D1Database> {
  return logDb(env, await shardOf(accountId));
}

/**
 * A new account (with an API key) whose log is in this shard. The shard follows from the account's random id, so
 * accounts are created until one lands there: each does with even odds.
 */
export async function accountOn(shard: number): ReturnType<typeof newAccount> {
  for (let tries = 0; tries < 64; tries++) {
    const account = await newAccount();
    if ((await shardOf(account.accountId)) === shard) return account;
  }
  throw new Error(`no account landed on log shard ${shard} in 64 tries`);
}

/** The test's env with one log shard's database replaced (a proxy that watches it, say). */
export function withLogDb(shard: number, db: D1Database): Env {
  return shard === 0 ? { ...env, DB: db } : { ...env, [`LOG_DB_${shard}`]: db };
}
