import { createExecutionContext, createScheduledController, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../src/index";
import { call, completed, expectJson, newAccount, receiver, sendEvent } from "./api";

/** A fresh account with one webhook (subscribed to every type) pointing at a scripted receiver, and its queue's stub. */
export async function hook(settings: Record<string, unknown> = {}, script: { answers?: unknown[]; otherwise?: unknown } = {}) {
  const { accountId, key } = await newAccount();
  const r = await receiver(script);
  const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["*"], ...settings } }), 201);
  const stub = env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(wh.id));
  let n = 0;
  return {
    accountId,
    key,
    r,
    wh,
    stub,
    send: async (data: Record<string, unknown> = completed(++n), type = "workflow.completed") =>
      expectJson(sendEvent({ type, account_id: accountId, data }), 202) as Promise<{ id: string; deliveries: number }>,
  };
}

export type Hook = Awaited<ReturnType<typeof hook>>;

/** Makes every queued retry due now (and lifts a 429 pause unless told not to), then runs the alarm once. */
export async function runDue(h: Hook, opts: { keepPause?: boolean } = {}) {
  await runInDurableObject(h.stub, (_i, state) => {
    state.storage.sql.exec("UPDATE queue SET next_at = 0");
    if (!opts.keepPause) state.storage.sql.exec("DELETE FROM meta WHERE key = 'paused_until'");
  });
  return runDurableObjectAlarm(h.stub);
}

/** The webhook's deliveries as the API lists them. */
export async function deliveriesOf(h: Hook, query = "") {
  return (await expectJson(call("GET", `/v1/webhooks/${h.wh.id}/deliveries${query}`, { token: h.key }), 200)).data as any[];
}

/** The delivery of one event, with its attempts, as GET /v1/deliveries/{id} answers it. */
export async function deliveryOf(h: Hook, eventId: string) {
  const row = (await deliveriesOf(h, "?limit=200")).find((d) => d.event_id === eventId);
  expect(row, `a delivery of ${eventId}`).toBeDefined();
  return expectJson(call("GET", `/v1/deliveries/${row.id}`, { token: h.key }), 200);
}

/** Runs the Worker's cron trigger to completion. */
export async function cron(scheduledTime = Date.now()) {
  const ctx = createExecutionContext();
  worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}
