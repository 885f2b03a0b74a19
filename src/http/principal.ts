import type { Context } from "hono";
import { logDb } from "../shards";
import type { AppEnv, Principal } from "./app-env";

function account(c: Context<AppEnv>): Principal & { kind: "account" } {
  const p = c.get("principal");
  if (p?.kind !== "account") throw new Error("route mounted without requireAccount()");
  return p;
}

/** The account behind an account-authenticated request (the auth middleware guarantees there is one). */
export function accountOf(c: Context<AppEnv>): string {
  return account(c).accountId;
}

/** The API key the caller authenticated with. */
export function keyIdOf(c: Context<AppEnv>): string {
  return account(c).keyId;
}

/** The log shard of the caller's account (src/shards.ts). */
export function logShardOf(c: Context<AppEnv>): number {
  return account(c).logShard;
}

/** The D1 database holding the caller's log (events, deliveries, attempts): its account's log shard. */
export function logOf(c: Context<AppEnv>): D1Database {
  return logDb(c.env, account(c).logShard);
}
