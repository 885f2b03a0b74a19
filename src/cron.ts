import { config, type Env } from "./config";
import { queueOf } from "./delivery/queue-stub";
import { type EventRow, itemFor } from "./ingest";
import type { WebhookRow } from "./webhooks/store";
import { toQueueConfig } from "./webhooks/store";

/** A pending delivery overdue by this long is handed to its queue again, in case its hand-off was lost. */
const SWEEP_AFTER_MS = 2 * 60_000;

/**
 * The cron trigger: purge logs past retention, and sweep — re-hand every overdue pending delivery of an active webhook to its
 * queue (idempotent there) and make each such queue re-arm its alarm, so no delivery can be forgotten.
 */
export async function runMaintenance(env: Env, now = Date.now()): Promise<{ purged: number; swept: number }> {
  const cfg = config(env);
  const cutoff = now - cfg.LOG_RETENTION_DAYS * 86_400_000;
  const purge = await env.DB.batch([
    env.DB.prepare("DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE started_at < ? LIMIT 5000)").bind(cutoff),
    env.DB.prepare("DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE created_at < ? AND status != 'pending' LIMIT 5000)").bind(cutoff),
  ]);
  const purged = purge.reduce((n, r) => n + (r.meta.changes ?? 0), 0);

  const stale = await env.DB.prepare(
    `SELECT d.id AS delivery_id, d.attempt_count, d.webhook_id, e.id AS e_id, e.account_id AS e_account_id, e.type AS e_type, e.timestamp AS e_timestamp,
            e.data AS e_data, e.created_at AS e_created_at
     FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
     WHERE d.status = 'pending' AND d.next_attempt_at < ? AND w.active = 1 AND w.disabled_reason IS NULL AND w.deleted_at IS NULL
     ORDER BY d.id LIMIT 2000`,
  )
    .bind(now - SWEEP_AFTER_MS)
    .all<{
      delivery_id: string;
      attempt_count: number;
      webhook_id: string;
      e_id: string;
      e_account_id: string | null;
      e_type: string;
      e_timestamp: string;
      e_data: string;
      e_created_at: number;
    }>();
  const byWebhook = Map.groupBy(stale.results, (r) => r.webhook_id);
  let swept = 0;
  for (const [webhookId, rows] of byWebhook) {
    const webhook = await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(webhookId).first<WebhookRow>();
    if (!webhook || webhook.deleted_at) continue;
    const items = rows.map((r) => {
      const event: EventRow = {
        id: r.e_id,
        account_id: r.e_account_id,
        type: r.e_type,
        timestamp: r.e_timestamp,
        data: r.e_data,
        deliveries: 0,
        created_at: r.e_created_at,
      };
      return itemFor(event, webhook, r.delivery_id);
    });
    try {
      const stub = queueOf(env, webhookId);
      await stub.enqueue(toQueueConfig(webhook), items);
      await stub.sweep();
      swept += items.length;
    } catch (err) {
      console.error("sweep of webhook queue failed", webhookId, err instanceof Error ? err.message : String(err));
    }
  }
  return { purged, swept };
}
