import type { Payload } from "../events/stored";
import type { Filter } from "./filter";
import { subscribes } from "./match";
import { subscribedWebhooksQuery } from "./store";
import type { WebhookRow } from "./types";

/**
 * Which webhooks an account has, as ingest matches an event against them, cached in the isolate so that a single
 * event costs no D1 read. The cache is exact, not a window of staleness: every write to an account's webhooks grows
 * its `webhooks_version` (a trigger in the schema), ingest reads that version in the same D1 batch that stores the
 * event, and an event matched against an older version is matched again (see ingest). Accounts are never deleted, so
 * "this account exists" is cached with it; an unknown account is asked of D1 every time.
 */
export interface Subscriptions {
  version: number;
  /** The account's log shard (src/shards.ts), which never changes: where its events are stored. */
  logShard: number;
  webhooks: Subscriber[];
}

/** A webhook as matching needs it: its row, with its patterns and filter parsed once. */
export interface Subscriber {
  id: string;
  row: WebhookRow;
  events: string[];
  filter: Filter | null;
}

/** The webhooks an event goes to (see subscribes). */
export function matching(webhooks: Subscriber[], event: Payload): WebhookRow[] {
  return webhooks.filter((w) => subscribes(w, event)).map((w) => w.row);
}

/** A webhook row made ready for matching. */
export function subscriberOf(row: WebhookRow): Subscriber {
  return { id: row.id, row, events: JSON.parse(row.events), filter: row.filter ? JSON.parse(row.filter) : null };
}

/** Accounts kept at most; the least recently used goes first. */
const LIMIT = 1000;
const cache = new Map<string, Subscriptions>();

/** The account's subscriptions, from the cache or D1; null when there is no such account. */
export async function subscriptionsOf(db: D1Database, accountId: string): Promise<Subscriptions | null> {
  const hit = cache.get(accountId);
  if (hit) {
    // Map keeps insertion order: taking the entry out and back makes it the most recent.
    cache.delete(accountId);
    cache.set(accountId, hit);
    return hit;
  }
  return loadSubscriptions(db, accountId);
}

/** Reads the account's subscriptions and version from D1 (one round trip) and caches them; null when there is no such account. */
export async function loadSubscriptions(db: D1Database, accountId: string): Promise<Subscriptions | null> {
  const [version, webhooks] = await db.batch<Record<string, unknown>>([
    db.prepare("SELECT webhooks_version AS v, log_shard FROM accounts WHERE id = ?").bind(accountId),
    subscribedWebhooksQuery(db, accountId),
  ]);
  const row = version.results[0] as { v: number; log_shard: number } | undefined;
  if (!row) return null;
  const subs: Subscriptions = { version: row.v, logShard: row.log_shard, webhooks: (webhooks.results as unknown as WebhookRow[]).map(subscriberOf) };
  if (cache.size >= LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(accountId, subs);
  return subs;
}

/** The statement that reads an account's webhooks_version, for a caller that sends it with its own writes. */
export function versionQuery(db: D1Database, accountId: string): D1PreparedStatement {
  return db.prepare("SELECT webhooks_version AS v FROM accounts WHERE id = ?").bind(accountId);
}
