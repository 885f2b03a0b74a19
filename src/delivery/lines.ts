import type { QueueConfig } from "../webhooks/types";
import type { Row } from "./rows";
import type { QueueStore } from "./store";

/**
 * Selection: which waiting rows may go out now, per ordering mode, and when the next one will be due. Read-only:
 * the store's transitions keep the heads these queries read.
 */

/**
 * Sends at once, at most: Workers allow six simultaneous outbound connections per invocation, and more would only
 * queue inside the runtime. Each slot takes the next due row as soon as its send has an outcome.
 */
export const SEND_SLOTS = 6;

/** What one request carries: one row, or a batch of rows sent as one `type: "batch"` request. */
export interface Unit {
  rows: Row[];
  batchId: string | null;
}

/**
 * The units due now, oldest first, none of them in flight: for strict ordering and batches (one line) one, and only
 * while nothing of the line is in flight; otherwise up to `room` heads (SEND_SLOTS at most are sent at once).
 */
export function dueUnits(store: QueueStore, cfg: QueueConfig, now: number, newBatchId: () => string, room = SEND_SLOTS): Unit[] {
  if (room <= 0) return [];
  if (cfg.batch || cfg.ordering === "strict") {
    // One line: its next unit goes once the one before it has its outcome.
    if (store.inFlight > 0) return [];
    if (cfg.batch) return dueBatch(store, cfg.batch, now, newBatchId);
    const head = lineHead(store);
    return head && head.next_at <= now ? [{ rows: [head], batchId: null }] : [];
  }
  const w = store.ready();
  return (
    store.sql
      // INDEXED BY: without statistics SQLite may walk the rowid order instead, reading every row behind the heads.
      .exec<Row>(
        `SELECT * FROM queue INDEXED BY queue_ready WHERE head = 1 AND next_at <= ? AND ${w.where} ORDER BY next_at, seq LIMIT ?`,
        now,
        ...w.args,
        Math.min(room, SEND_SLOTS),
      )
      .toArray()
      .map((r) => ({ rows: [r], batchId: null }))
  );
}

/**
 * The head batch: a batch that failed before goes again whole, under its id; otherwise the first max_size waiting
 * rows once there are that many, or once the oldest has waited max_wait_ms.
 */
function dueBatch(store: QueueStore, batch: NonNullable<QueueConfig["batch"]>, now: number, newBatchId: () => string): Unit[] {
  const head = lineHead(store);
  if (!head || head.next_at > now) return [];
  const w = store.waiting();
  if (head.batch_id) {
    // A row of the batch that expired while it waited is done, so the retry leaves it out.
    const rows = store.sql
      .exec<Row>(`SELECT * FROM queue WHERE batch_id = ? AND ${w.where} ORDER BY seq LIMIT ?`, head.batch_id, ...w.args, batch.max_size)
      .toArray();
    return [{ rows, batchId: head.batch_id }];
  }
  const rows = store.sql.exec<Row>(`SELECT * FROM queue WHERE batch_id IS NULL AND ${w.where} ORDER BY seq LIMIT ?`, ...w.args, batch.max_size).toArray();
  if (rows.length < batch.max_size && head.created_at + batch.max_wait_ms > now) return [];
  return [{ rows, batchId: newBatchId() }];
}

/** When the next unit will be due (ignoring pauses and rate limits), or null when nothing waits. */
export function nextDue(store: QueueStore, cfg: QueueConfig): number | null {
  if (cfg.ordering !== "strict" && !cfg.batch) {
    const w = store.waiting();
    return store.sql.exec<{ t: number | null }>(`SELECT min(next_at) AS t FROM queue INDEXED BY queue_ready WHERE head = 1 AND ${w.where}`, ...w.args).one().t;
  }
  const head = lineHead(store);
  if (!head) return null;
  if (!cfg.batch || head.batch_id) return head.next_at;
  const w = store.waiting();
  const open = store.sql
    .exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM queue WHERE batch_id IS NULL AND ${w.where} LIMIT ?)`, ...w.args, cfg.batch.max_size)
    .one().n;
  return open < cfg.batch.max_size ? Math.max(head.next_at, head.created_at + cfg.batch.max_wait_ms) : head.next_at;
}

/** Waiting rows past their ttl_s, up to `limit` (not one being sent: its outcome settles it). */
export function expiredRows(store: QueueStore, now: number, limit: number): Row[] {
  if (!store.mayExpire) return [];
  const w = store.ready();
  return store.sql.exec<Row>(`SELECT * FROM queue WHERE expires_at IS NOT NULL AND expires_at <= ? AND ${w.where} LIMIT ?`, now, ...w.args, limit).toArray();
}

/** When the next waiting row's ttl_s ends, or null. */
export function nextExpiry(store: QueueStore): number | null {
  if (!store.mayExpire) return null;
  const w = store.waiting();
  const t = store.sql.exec<{ t: number | null }>(`SELECT min(expires_at) AS t FROM queue WHERE expires_at IS NOT NULL AND ${w.where}`, ...w.args).one().t;
  if (t === null) store.noneExpire();
  return t;
}

/** The lowest waiting row: the head of a strict or batched line (read in sequence order; no index needed). */
function lineHead(store: QueueStore): Row | undefined {
  const w = store.waiting();
  return store.sql.exec<Row>(`SELECT * FROM queue WHERE ${w.where} ORDER BY seq LIMIT 1`, ...w.args).toArray()[0];
}
