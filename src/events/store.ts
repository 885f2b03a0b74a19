import { config, type Env } from "../config";
import type { QueueItem } from "../delivery/contract";
import { batches, byShard, logDb } from "../shards";
import { inLists } from "../sql";
import type { WebhookRow } from "../webhooks/types";
import { BROADCAST, type EventRow, type Payload } from "./stored";

/** One delivery an event hands off: the webhook and the item its queue gets. */
export interface Handoff {
  webhook: WebhookRow;
  item: QueueItem;
}

/** An event's key as one string, for maps: account_id (BROADCAST for a broadcast's record), then the id. */
export const eventKey = (accountId: string, id: string): string => `${accountId}\n${id}`;

/** The statements that read the events with these keys, a run of 45 keys each (two parameters a key). */
export function eventsByKey(db: D1Database, keys: [accountId: string, id: string][]): D1PreparedStatement[] {
  return [...inLists(keys, 45)].map(({ items }) =>
    db.prepare(`SELECT * FROM events WHERE (account_id, id) IN (VALUES ${items.map(() => "(?, ?)").join(",")})`).bind(...items.flat()),
  );
}

/** One event by its key, or null. */
export function findEvent(db: D1Database, accountId: string, id: string): Promise<EventRow | null> {
  return db.prepare("SELECT * FROM events WHERE account_id = ? AND id = ?").bind(accountId, id).first<EventRow>();
}

/**
 * The accounts of these webhooks that hold an event with this id already: a broadcast with that id is not theirs. Each
 * is asked in its log shard, the shards at once.
 */
export async function accountsHolding(env: Env, id: string, webhooks: Pick<WebhookRow, "account_id" | "log_shard">[]): Promise<Set<string>> {
  const accounts = [...new Map(webhooks.map((w) => [w.account_id, w])).values()];
  const results = await batches<{ account_id: string }>(
    byShard(env, accounts, (w) => w.log_shard).map(({ db, items: hooks }) => ({
      db,
      statements: [...inLists(hooks, COPY_LIST)].map(({ items }) =>
        db
          .prepare("SELECT account_id FROM events WHERE account_id IN (SELECT value FROM json_each(?)) AND id = ?")
          .bind(JSON.stringify(items.map((w) => w.account_id)), id),
      ),
    })),
  );
  return new Set(results.flat().flatMap((r) => r.results.map((row) => row.account_id)));
}

/** Accounts per statement that reads or writes a broadcast's copies from a list (one bound JSON array, ~32 KB). */
export const COPY_LIST = 1000;

/**
 * The accounts whose log is not in the main database, by shard: a broadcast's copies for them are written from these
 * lists, since their shard has no accounts table to read. None while LOG_SHARDS is 1.
 */
export async function accountsElsewhere(env: Env): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (config(env).LOG_SHARDS === 1) return out;
  const rows = await env.DB.prepare("SELECT id, log_shard FROM accounts WHERE log_shard <> 0").all<{ id: string; log_shard: number }>();
  for (const r of rows.results) out.set(r.log_shard, [...(out.get(r.log_shard) ?? []), r.id]);
  return out;
}

/** The columns an event is inserted with (`fanout` is left 0 but by the fan-out's own statements). */
export const COLUMNS = "account_id, id, type, timestamp, data, deliveries, created_at, handoffs";

/**
 * The statements that store a broadcast, listing what it hands off (the deliveries' own rows are their queues' to
 * write), by log shard. Three kinds: its record under BROADCAST (the answer and every hand-off, for its repeat), in the
 * main database; a copy in each account it is handed to, with that account's hand-offs, in the account's shard (a
 * plain INSERT: if the account stores the same id meanwhile, the store fails, rather than one id naming two events
 * there); and a copy in every other account, so each sees the notice in its event list, unless it has an event with
 * that id — the main database's accounts read in SQL, the other shards' from `elsewhere` (accountsElsewhere).
 */
export function storeStatements(
  env: Env,
  event: Payload,
  handoffs: Handoff[],
  now: number,
  elsewhere: Map<number, string[]>,
): Map<number, D1PreparedStatement[]> {
  const data = JSON.stringify(event.data);
  const out = new Map<number, D1PreparedStatement[]>();
  const add = (shard: number, statement: (db: D1Database) => D1PreparedStatement) => {
    const list = out.get(shard) ?? [];
    list.push(statement(logDb(env, shard)));
    out.set(shard, list);
  };
  const row = (account: string, hs: Handoff[]) => (db: D1Database) =>
    db
      .prepare(`INSERT INTO events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .bind(
        account,
        event.id,
        event.type,
        event.timestamp,
        data,
        hs.length,
        now,
        JSON.stringify(hs.map(({ webhook, item }) => [webhook.id, item.delivery_id])),
      );
  const byAccount = new Map<string, Handoff[]>();
  for (const h of handoffs) byAccount.set(h.webhook.account_id, [...(byAccount.get(h.webhook.account_id) ?? []), h]);
  add(0, row(BROADCAST, handoffs));
  for (const [account, hs] of byAccount) add(hs[0].webhook.log_shard, row(account, hs));
  // A WHERE (here "log_shard = 0", below "true") lets SQLite tell the upsert clause from a join constraint of the SELECT.
  add(0, (db) =>
    db
      .prepare(`INSERT INTO events (${COLUMNS}) SELECT id, ?, ?, ?, ?, 0, ?, '[]' FROM accounts WHERE log_shard = 0 ON CONFLICT (account_id, id) DO NOTHING`)
      .bind(event.id, event.type, event.timestamp, data, now),
  );
  for (const [shard, accounts] of elsewhere) {
    for (let i = 0; i < accounts.length; i += COPY_LIST) {
      add(shard, (db) =>
        db
          .prepare(`INSERT INTO events (${COLUMNS}) SELECT value, ?, ?, ?, ?, 0, ?, '[]' FROM json_each(?) WHERE true ON CONFLICT (account_id, id) DO NOTHING`)
          .bind(event.id, event.type, event.timestamp, data, now, JSON.stringify(accounts.slice(i, i + COPY_LIST))),
      );
    }
  }
  return out;
}

/**
 * The statement that stores an account's event listing what it hands off, unless the account has an event with this
 * id already: it answers the id when it stored the event, nothing when the id was taken (a repeat).
 */
export function insertEventStatement(db: D1Database, event: Payload, accountId: string, handoffs: Handoff[], now: number): D1PreparedStatement {
  return db
    .prepare(`INSERT INTO events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, id) DO NOTHING RETURNING id`)
    .bind(
      accountId,
      event.id,
      event.type,
      event.timestamp,
      JSON.stringify(event.data),
      handoffs.length,
      now,
      JSON.stringify(handoffs.map(({ webhook, item }) => [webhook.id, item.delivery_id])),
    );
}

/** Statements per D1 batch (a transaction); an event's statements always go together. */
const STORE_BATCH = 200;

/** Whether a D1 error is an event insert that found its key taken. */
export const isRepeat = (err: unknown) => /UNIQUE constraint failed: events\./.test(String(err));

/**
 * Stores new events, STORE_BATCH statements per D1 batch (a transaction), so a batch ingest of 100 events is one round
 * trip instead of 100. A batch refused because one of its events was stored meanwhile by a concurrent request (the
 * same key) is stored again event by event, so that only that event is answered as a repeat (`stored: false`). Any
 * other failure is thrown.
 */
export async function storeEvents<T extends { statements: D1PreparedStatement[] }>(db: D1Database, events: T[]): Promise<(T & { stored: boolean })[]> {
  const out: (T & { stored: boolean })[] = [];
  for (const group of groups(events)) {
    try {
      await db.batch(group.flatMap((e) => e.statements));
      for (const e of group) out.push({ ...e, stored: true });
      continue;
    } catch (err) {
      if (!isRepeat(err)) throw err;
      if (group.length === 1) {
        out.push({ ...group[0], stored: false });
        continue;
      }
    }
    for (const e of group) {
      try {
        await db.batch(e.statements);
        out.push({ ...e, stored: true });
      } catch (err) {
        if (!isRepeat(err)) throw err;
        out.push({ ...e, stored: false });
      }
    }
  }
  return out;
}

/**
 * Stores broadcasts (statements by log shard, storeStatements) shard by shard with storeEvents, the main database —
 * their records — last, so a repeat finds a broadcast's record only once every copy is stored. There is no transaction
 * across databases: a broadcast refused in one shard (an account there stored its id meanwhile) goes no further, and
 * the copies it left in the shards before keep their hand-offs listed, which the cron's sweep of lost hand-offs sends.
 */
export async function storeAcrossShards<T extends { byShard: Map<number, D1PreparedStatement[]> }>(
  env: Env,
  events: T[],
): Promise<(T & { stored: boolean })[]> {
  const refused = new Set<T>();
  const shards = [...new Set(events.flatMap((e) => [...e.byShard.keys()]))].sort((a, b) => (a === 0 ? 1 : b === 0 ? -1 : a - b));
  for (const shard of shards) {
    const here = events.filter((e) => !refused.has(e) && (e.byShard.get(shard)?.length ?? 0) > 0);
    for (const r of await storeEvents(
      logDb(env, shard),
      here.map((e) => ({ event: e, statements: e.byShard.get(shard)! })),
    )) {
      if (!r.stored) refused.add(r.event);
    }
  }
  return events.map((e) => ({ ...e, stored: !refused.has(e) }));
}

function* groups<T extends { statements: D1PreparedStatement[] }>(events: T[]): Generator<T[]> {
  let group: T[] = [];
  let size = 0;
  for (const e of events) {
    if (group.length > 0 && size + e.statements.length > STORE_BATCH) {
      yield group;
      group = [];
      size = 0;
    }
    group.push(e);
    size += e.statements.length;
  }
  if (group.length > 0) yield group;
}
