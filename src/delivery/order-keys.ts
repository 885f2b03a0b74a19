import type { QueueConfig } from "../webhooks/types";

// A row's order key is computed by SQL from its payload, so that a change of ordering re-keys the queue in one
// statement: strict rows share '' (one line, read in sequence order), key rows 'k:' + the value at ordering_key, none
// rows 'n:' + a random key each (every row a line of its own).

/**
 * The SQL for a row's order key, and its arguments: from the row's own `payload` column (a re-key), or from a bound
 * payload (an insert, which passes the payload again among the arguments).
 */
export function orderKey(cfg: QueueConfig, payload?: string): { sql: string; args: string[] } {
  if (cfg.ordering === "strict") return { sql: "''", args: [] };
  if (cfg.ordering === "none") return { sql: "'n:' || hex(randomblob(8))", args: [] };
  const path = jsonPath(cfg.ordering_key ?? "");
  // Prefixed so that an event without the key still has a keyed line ('' is strict's, which keeps no heads).
  return payload === undefined
    ? { sql: "'k:' || coalesce(json_extract(payload, ?), '')", args: [path] }
    : { sql: "'k:' || coalesce(json_extract(?, ?), '')", args: [payload, path] };
}

/** "data.items.0.id" → `$."data"."items"[0]."id"` for SQLite's json_extract. */
function jsonPath(dotted: string): string {
  return `$${dotted
    .split(".")
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `."${s}"`))
    .join("")}`;
}
