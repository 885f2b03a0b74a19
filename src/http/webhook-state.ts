import type { Context } from "hono";
import { config } from "../config";
import type { QueueHealth } from "../delivery/contract";
import { queueOf } from "../delivery/queue-stub";
import type { Webhook, WebhookState } from "../webhooks/model";
import { toWebhook } from "../webhooks/store";
import type { WebhookRow } from "../webhooks/types";
import type { AppEnv } from "./app-env";

/** A webhook as every answer shows it: its settings (toWebhook), and how it is doing as its queue sees it. */
export type WebhookAnswer = Webhook & WebhookState;

const iso = (ms: number) => new Date(ms).toISOString();

/** `failing` and `held` from the queue's health. */
export function stateOf(row: WebhookRow, health: QueueHealth | null, disableAfterMs: number): WebhookState {
  const off = row.active === 0 || row.disabled_reason !== null;
  const failing =
    health && health.failing_since !== null && health.consecutive_failures > 0
      ? {
          since: iso(health.failing_since),
          consecutive_failures: health.consecutive_failures,
          last_status_code: health.last_status_code,
          last_error: health.last_error,
          disables_at: off ? null : iso(health.failing_since + disableAfterMs),
        }
      : null;
  return { failing, held: off ? { count: health?.held ?? 0, expired: health?.held_expired ?? 0 } : null };
}

/**
 * The answers for these rows, asking each webhook's queue (at once) how it is doing. A queue that cannot answer
 * right now leaves its webhook's state empty rather than fail the read: the settings come from D1 regardless.
 */
export async function webhookAnswers(c: Context<AppEnv>, rows: WebhookRow[]): Promise<WebhookAnswer[]> {
  const disableAfterMs = config(c.env).DISABLE_AFTER_FAILING_HOURS * 3_600_000;
  return Promise.all(
    rows.map(async (row) => {
      const health = await queueOf(c.env, row.id)
        .health()
        .catch((err: unknown) => {
          console.error("a webhook's queue did not answer for its health", row.id, err instanceof Error ? err.message : String(err));
          return null;
        });
      return { ...toWebhook(row), ...stateOf(row, health, disableAfterMs) };
    }),
  );
}

/** One webhook's answer. */
export async function webhookAnswer(c: Context<AppEnv>, row: WebhookRow): Promise<WebhookAnswer> {
  return (await webhookAnswers(c, [row]))[0];
}
