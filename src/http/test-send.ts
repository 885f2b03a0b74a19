// The test route's send: throttled by the webhook's queue first (issue 17: unthrottled it was an open proxy), then
// recorded as a delivery and sent through that queue, the only sender.

import type { Context } from "hono";
import type { QueueItem, TestResult } from "../delivery/contract";
import { closedStatement, pendingStatement, prepared } from "../delivery/log";
import { queueOf } from "../delivery/queue-stub";
import type { Payload } from "../events/stored";
import { payloadFor } from "../handoffs";
import { newId } from "../ids";
import { logDb } from "../shards";
import { toQueueConfig } from "../webhooks/store";
import { TEST_SEND_BURST, TEST_SENDS_PER_MINUTE } from "../webhooks/test-throttle";
import type { WebhookRow } from "../webhooks/types";
import type { AppEnv } from "./app-env";
import { ProblemError } from "./problem";

/** Sends one sample event through the webhook's queue (the only sender) and records it as a delivery. */
export async function sendTestEvent(
  c: Context<AppEnv>,
  row: WebhookRow,
  type: string,
  data: Record<string, unknown>,
): Promise<TestResult & { delivery_id: string }> {
  // Before anything is written: a refused test leaves no trace but its answer.
  const waitMs = await queueOf(c.env, row.id).reserveTest(toQueueConfig(row));
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000);
    const limit = row.rate_limit_per_s ? ` or its rate_limit_per_s of ${row.rate_limit_per_s}` : "";
    throw new ProblemError(
      429,
      `This webhook's test sends are past ${TEST_SENDS_PER_MINUTE} a minute (at most ${TEST_SEND_BURST} at once)${limit}; try again in ${seconds} s. Nothing was sent.`,
      {},
      { "retry-after": String(seconds) },
    );
  }
  const now = Date.now();
  const event: Payload = { id: newId("evt", now), type, timestamp: new Date(now).toISOString(), account_id: row.account_id, data };
  const deliveryId = newId("dlv", now);
  const item: QueueItem = { delivery_id: deliveryId, event_id: event.id, event_type: type, payload: payloadFor(event, row), created_at: now };
  const log = logDb(c.env, row.log_shard);
  await prepared(log, pendingStatement(row.id, row.account_id, item, now, now)).run();
  let result: TestResult;
  try {
    result = await queueOf(c.env, row.id).sendTest(toQueueConfig(row), item);
  } catch (err) {
    // A test send has no stored event, so the sweeper would never settle it: settle it here.
    const message = err instanceof Error ? err.message : String(err);
    console.error("test send failed before reaching the receiver", row.id, message);
    await prepared(log, closedStatement(row.id, row.account_id, item, "failed", "the test could not be sent; try again", Date.now())).run();
    throw new ProblemError(503, "The test event could not be sent right now; nothing reached your receiver. Try again shortly.");
  }
  return { ...result, delivery_id: deliveryId };
}
