import type { QueueItem } from "../delivery/contract";
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

/** The accounts among these that hold an event with this id already: a broadcast with that id is not theirs. */
export async function accountsHolding(db: D1Database, id: string, accountIds: string[]): Promise<Set<string>> {
  if (accountIds.length === 0) return new Set();
  const results = await db.batch<{ account_id: string }>(
    [...inLists(accountIds)].map(({ items, marks }) =>
      db.prepare(`SELECT account_id FROM events WHERE account_id IN (${marks}) AND id = ?`).bind(...items, id),
    ),
  );
  return new Set(results.flatMap((r) => r.results.map((row) => row.account_id)));
}

const COLUMNS = "account_id, id, type, timestamp, data, deliveries, created_at, handoffs";

/**
 * The statements that store one event, listing what it hands off (the deliveries' own rows are their queues' to
 * write). An account's event is one row. A broadcast is three kinds: its record under BROADCAST (the answer and every
 * hand-off, for its repeat); a copy in each account it is handed to, with that account's hand-offs (a plain INSERT: if
 * the account stores the same id meanwhile, the whole store fails, rather than one id naming two events there); and
 * a copy in every other account, so each sees the notice in its event list, unless it has an event with that id.
 */
export function storeStatements(db: D1Database, event: Payload, accountId: string, handoffs: Handoff[], now: number): D1PreparedStatement[] {
  const data = JSON.stringify(event.data);
  const row = (account: string, hs: Handoff[]) =>
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
  if (accountId !== BROADCAST) return [row(accountId, handoffs)];
  const byAccount = new Map<string, Handoff[]>();
  for (const h of handoffs) byAccount.set(h.webhook.account_id, [...(byAccount.get(h.webhook.account_id) ?? []), h]);
  return [
    row(BROADCAST, handoffs),
    ...[...byAccount].map(([account, hs]) => row(account, hs)),
    // "WHERE true" lets SQLite tell the upsert clause from a join constraint of the SELECT.
    db
      .prepare(`INSERT INTO events (${COLUMNS}) SELECT id, ?, ?, ?, ?, 0, ?, '[]' FROM accounts WHERE true ON CONFLICT (account_id, id) DO NOTHING`)
      .bind(event.id, event.type, event.timestamp, data, now),
  ];
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

const isRepeat = (err: unknown) => /UNIQUE constraint failed: events\./.test(String(err));

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
