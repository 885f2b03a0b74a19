/**
 * The queue's table and its row, apart from the store (store.ts) that alone writes them, because every part of the
 * queue reads rows. The store's glossary says what the columns mean.
 */

/** A row of the queue. */
export interface Row extends Record<string, SqlStorageValue> {
  seq: number;
  delivery_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  order_key: string;
  attempts: number;
  next_at: number;
  created_at: number;
  expires_at: number | null;
  batch_id: string | null;
}

/** The queue's own SQLite: the queue table, its partial indexes, and the meta table for marks and counters. */
export const QUEUE_SCHEMA = `
CREATE TABLE IF NOT EXISTS queue (
  seq INTEGER PRIMARY KEY,
  delivery_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  order_key TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  batch_id TEXT,
  head INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_line ON queue(order_key, seq) WHERE order_key <> '';
CREATE INDEX IF NOT EXISTS queue_ready ON queue(next_at, seq) WHERE head = 1;
CREATE INDEX IF NOT EXISTS queue_expiry ON queue(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** How a new row starts. */
export interface Start {
  nextAt: number;
  expiresAt: number | null;
  attempts: number;
}
