import { config, type Env } from "./config";

/**
 * The delivery log (events, deliveries, attempts) sharded by account across D1 databases, so that neither one
 * database's 10 GB nor its single writer bounds the service. Shard 0 is the main database (binding `DB`), which also
 * holds accounts, keys and webhooks; shard n > 0 is the binding `LOG_DB_n`, with the same schema and its account side
 * empty. An account's shard is chosen when it is created and stored with it (`accounts.log_shard`, copied to each of
 * its webhooks), so raising LOG_SHARDS spreads new accounts over every shard and moves no one. Every log statement
 * names one account or one of its webhooks, so it runs on one shard; only a broadcast and the cron visit them all.
 */

/** FNV-1a, 32 bits, over the id's characters: small, stable across releases and runtimes, spread by the id's random tail. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/** The log shard a new account gets: hash(account_id) mod LOG_SHARDS. */
export function shardFor(accountId: string, shards: number): number {
  return fnv1a(accountId) % shards;
}

/** The D1 database of a log shard; throws, naming the binding, when it is not bound. */
export function logDb(env: Env, shard: number): D1Database {
  if (shard === 0) return env.DB;
  const db = env[`LOG_DB_${shard}`];
  if (!db) throw new Error(`log shard ${shard} has no D1 binding LOG_DB_${shard}; declare it in wrangler.toml (README, "Sharding the log")`);
  return db;
}

/** Every log shard: 0 … LOG_SHARDS − 1. */
export function logShards(env: Env): number[] {
  return Array.from({ length: config(env).LOG_SHARDS }, (_, n) => n);
}

/** Items grouped by the log shard each belongs to, with that shard's database, in the order the shards first appear. */
export function byShard<T>(env: Env, items: T[], shardOf: (item: T) => number): { shard: number; db: D1Database; items: T[] }[] {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const n = shardOf(item);
    const list = groups.get(n);
    if (list) list.push(item);
    else groups.set(n, [item]);
  }
  return [...groups].map(([shard, list]) => ({ shard, db: logDb(env, shard), items: list }));
}

/**
 * Runs each database's statements as one batch (one transaction), all databases at once, and answers each part's
 * results in order. Parts on the same database share its batch, so a caller that writes an account's log and reads
 * the main database makes one round trip when the log is in the main database (shard 0: every account while
 * LOG_SHARDS is 1).
 */
export async function batches<T = Record<string, unknown>>(parts: { db: D1Database; statements: D1PreparedStatement[] }[]): Promise<D1Result<T>[][]> {
  const byDb = new Map<D1Database, number[]>();
  parts.forEach((p, i) => {
    if (p.statements.length === 0) return;
    const list = byDb.get(p.db);
    if (list) list.push(i);
    else byDb.set(p.db, [i]);
  });
  const out: D1Result<T>[][] = parts.map(() => []);
  await Promise.all(
    [...byDb].map(async ([db, indexes]) => {
      const results = await db.batch<T>(indexes.flatMap((i) => parts[i].statements));
      let at = 0;
      for (const i of indexes) {
        out[i] = results.slice(at, at + parts[i].statements.length);
        at += parts[i].statements.length;
      }
    }),
  );
  return out;
}
