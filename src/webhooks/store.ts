import type { Webhook, WebhookSettings } from "./model";
import type { QueueConfig, SealedHeaders, WebhookRow } from "./types";

const iso = (ms: number) => new Date(ms).toISOString();

/** The settings stored in a row, parsed; custom header values masked, as every answer shows them. */
export function rowSettings(row: WebhookRow): WebhookSettings {
  return {
    url: row.url,
    events: JSON.parse(row.events),
    description: row.description,
    active: row.active === 1,
    headers: Object.fromEntries(Object.entries(JSON.parse(row.headers) as SealedHeaders).map(([name, h]) => [name, h.masked])),
    filter: row.filter ? JSON.parse(row.filter) : null,
    ordering: row.ordering,
    ordering_key: row.ordering_key,
    retry: JSON.parse(row.retry),
    timeout_ms: row.timeout_ms,
    rate_limit_per_s: row.rate_limit_per_s,
    batch: row.batch ? JSON.parse(row.batch) : null,
    format: row.format,
    redact: JSON.parse(row.redact),
    ttl_s: row.ttl_s,
  };
}

/** A row as the API answers it. The signing secret is never part of it. */
export function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    ...rowSettings(row),
    disabled_reason: row.disabled_reason,
    signing: row.signing,
    ...(row.signing === "ed25519" ? { public_key: row.public_key } : {}),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/** The part of a row its Durable Object keeps. */
export function toQueueConfig(row: WebhookRow): QueueConfig {
  const s = rowSettings(row);
  return {
    webhook_id: row.id,
    account_id: row.account_id,
    url: s.url,
    description: s.description,
    active: s.active && !row.disabled_reason && !row.deleted_at,
    deleted: row.deleted_at !== null,
    headers: JSON.parse(row.headers),
    ordering: s.ordering,
    ordering_key: s.ordering_key,
    retry: s.retry,
    timeout_ms: s.timeout_ms,
    rate_limit_per_s: s.rate_limit_per_s,
    batch: s.batch,
    format: s.format,
    ttl_s: s.ttl_s,
    keys: JSON.parse(row.secrets),
    log_shard: row.log_shard,
    updated_at: row.updated_at,
  };
}

/** The settings as the columns store them; the custom headers come sealed, never from the settings' (clear or masked) view. */
export function settingsColumns(s: WebhookSettings, headers: SealedHeaders) {
  return {
    url: s.url,
    events: JSON.stringify(s.events),
    description: s.description,
    active: s.active ? 1 : 0,
    headers: JSON.stringify(headers),
    filter: s.filter ? JSON.stringify(s.filter) : null,
    ordering: s.ordering,
    ordering_key: s.ordering_key,
    retry: JSON.stringify(s.retry),
    timeout_ms: s.timeout_ms,
    rate_limit_per_s: s.rate_limit_per_s,
    batch: s.batch ? JSON.stringify(s.batch) : null,
    format: s.format,
    redact: JSON.stringify(s.redact),
    ttl_s: s.ttl_s,
  };
}

/** One of this account's webhooks (deleted ones are gone), or null — the caller answers 404 either way. */
export function getWebhookRow(db: D1Database, accountId: string, id: string): Promise<WebhookRow | null> {
  return db.prepare("SELECT * FROM webhooks WHERE id = ? AND account_id = ? AND deleted_at IS NULL").bind(id, accountId).first<WebhookRow>();
}

/** Inserts or fully rewrites a webhook row. */
export function saveWebhookStatement(db: D1Database, row: WebhookRow): D1PreparedStatement {
  const cols = Object.keys(row) as (keyof WebhookRow)[];
  return db
    .prepare(
      `INSERT INTO webhooks (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})
       ON CONFLICT(id) DO UPDATE SET ${cols
         .filter((c) => c !== "id")
         .map((c) => `${c} = excluded.${c}`)
         .join(", ")}`,
    )
    .bind(...cols.map((c) => row[c]));
}

/**
 * Inserts a new webhook unless its account already has `cap` (deleted ones do not count). One statement, so two
 * creates at once cannot both take the last place; the caller reads `meta.changes` (0: refused).
 */
export function insertWebhookStatement(db: D1Database, row: WebhookRow, cap: number): D1PreparedStatement {
  const cols = Object.keys(row) as (keyof WebhookRow)[];
  return db
    .prepare(
      `INSERT INTO webhooks (${cols.join(", ")}) SELECT ${cols.map(() => "?").join(", ")}
       WHERE (SELECT count(*) FROM webhooks WHERE account_id = ? AND deleted_at IS NULL) < ?`,
    )
    .bind(...cols.map((c) => row[c]), row.account_id, cap);
}

/**
 * The webhooks that may receive an event of this account (every account's, for a broadcast): all but the deleted. An
 * inactive or disabled webhook is handed its events too, and its queue holds them until it is enabled again.
 */
export function subscribedWebhooksQuery(db: D1Database, accountId: string | null): D1PreparedStatement {
  return accountId
    ? db.prepare("SELECT * FROM webhooks WHERE account_id = ? AND deleted_at IS NULL").bind(accountId)
    : db.prepare("SELECT * FROM webhooks WHERE deleted_at IS NULL");
}
