import type { RetryPolicy } from "../delivery/retry";

// The shapes of a webhook that other modules use: the D1 row, its sealed parts, and what its queue keeps. Types only,
// so that ingest, the routes and the delivery core depend on no implementation for them.

/** A custom header's value sealed like a signing key, with the masked form ("Bearer …3f9a") that answers show. */
export interface SealedHeader {
  sealed: string;
  masked: string;
}

/** A webhook's custom headers by name, as the row, the queue's storage and the queue's configuration hold them. */
export type SealedHeaders = Record<string, SealedHeader>;

/** A sealed (AES-GCM encrypted) signing key with its scheme; older keys carry the end of their grace period. */
export interface SealedKey {
  sealed: string;
  scheme: "hmac" | "ed25519";
  expires_at: number | null;
}

/** A row of the webhooks table. */
export interface WebhookRow {
  id: string;
  account_id: string;
  url: string;
  events: string;
  description: string;
  active: number;
  disabled_reason: string | null;
  headers: string;
  filter: string | null;
  ordering: "strict" | "key" | "none";
  ordering_key: string | null;
  retry: string;
  timeout_ms: number;
  rate_limit_per_s: number | null;
  batch: string | null;
  format: "json" | "slack";
  redact: string;
  ttl_s: number | null;
  signing: "hmac" | "ed25519";
  public_key: string | null;
  secrets: string;
  /** Its account's log shard (src/shards.ts): where its deliveries and attempts are written. */
  log_shard: number;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

/** What a webhook's Durable Object needs to send: everything but what only ingest uses (events, filter, redact). */
export interface QueueConfig {
  webhook_id: string;
  account_id: string;
  url: string;
  /** Named in the operational events about the webhook (optional: a queue configured before it was kept has none). */
  description?: string;
  /** False when inactive or disabled: deliveries are held, not dropped. */
  active: boolean;
  deleted: boolean;
  /** Sealed: the queue opens them only to send (openHeaders) and logs them masked (maskHeaders). */
  headers: SealedHeaders;
  ordering: "strict" | "key" | "none";
  ordering_key: string | null;
  retry: RetryPolicy;
  timeout_ms: number;
  rate_limit_per_s: number | null;
  batch: { max_size: number; max_wait_ms: number } | null;
  format: "json" | "slack";
  ttl_s: number | null;
  keys: SealedKey[];
  /** The log shard its log goes to (src/shards.ts); never changes for a webhook. */
  log_shard: number;
  updated_at: number;
}
