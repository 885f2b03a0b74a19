import type { Env } from "../config";
import { queueOf } from "../delivery/queue-stub";
import { logDb } from "../shards";
import { saveWebhookStatement, toQueueConfig } from "./store";
import type { WebhookRow } from "./types";

/**
 * Deletes a webhook: its queue lets go, its pending deliveries are cancelled, its row is marked deleted. Used by
 * DELETE /v1/webhooks/{id} and by a relay's delete and expiry. Safe to repeat after a failure part-way.
 */
export async function deleteWebhook(env: Env, row: WebhookRow, now: number): Promise<void> {
  const deleted: WebhookRow = { ...row, deleted_at: now, active: 0, updated_at: Math.max(now, row.updated_at + 1) };
  // The queue lets go first: if D1 then fails, the customer's retry of the DELETE finishes the job, whereas a
  // queue never told would keep sending for a webhook that D1 (and so the sweeper) considers gone.
  await queueOf(env, row.id).configure(toQueueConfig(deleted));
  const log = logDb(env, row.log_shard);
  // `status <> 'delivered'` (implied) lets SQLite find them through the partial index deliveries_open.
  const cancel = log
    .prepare(
      "UPDATE deliveries INDEXED BY deliveries_open SET status = 'cancelled', next_attempt_at = NULL, updated_at = ? WHERE webhook_id = ? AND status = 'pending' AND status <> 'delivered'",
    )
    .bind(now, row.id);
  // In another shard the log is cancelled first: a DELETE retried after a failure between the two still finds the
  // webhook and finishes, where one that had lost its webhook first would leave its deliveries pending for good.
  if (log === env.DB) await env.DB.batch([saveWebhookStatement(env.DB, deleted), cancel]);
  else {
    await cancel.run();
    await saveWebhookStatement(env.DB, deleted).run();
  }
}
