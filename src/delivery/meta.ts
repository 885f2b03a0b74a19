// The object's `meta` table: a few JSON values (the webhook's settings, the marks, the pause, the failing clock), each
// written only when it changes.

/** A JSON value of the object's `meta` table, or null. */
export function readMeta<T>(sql: SqlStorage, key: string): T | null {
  const row = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
  return row ? (JSON.parse(row.value) as T) : null;
}

/** Writes (or, with null, deletes) a JSON value of the object's `meta` table. */
export function writeMeta(sql: SqlStorage, key: string, value: unknown): void {
  if (value === null) sql.exec("DELETE FROM meta WHERE key = ?", key);
  // An upsert, not INSERT OR REPLACE: a replace deletes and inserts, two rows written for one value.
  else sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, JSON.stringify(value));
}
