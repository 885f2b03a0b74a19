import { createExecutionContext, createScheduledController, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../src/index";
import { call, completed, expectJson, newAccount, receiver, sendEvent } from "./api";
import { idle, idleAll, testClock, wantedAlarm } from "./queue-seams";
import { accountOn, logDbOf } from "./shards";

// How the workerd tests drive a webhook's queue: through the API and its receiver, as a customer would, and through
// time. A hand-off sends at once, as in production; `settle` waits for that work, `runDue` moves the queues' clock
// to the alarm the queue asked for and fires it.

/**
 * A fresh account with one webhook (subscribed to every type) pointing at a scripted receiver, its queue's stub, and
 * the D1 database of its log (`log`). The account's log shard is the service's choice, or `on.shard`.
 */
export async function hook(settings: Record<string, unknown> = {}, script: { answers?: unknown[]; otherwise?: unknown } = {}, on: { shard?: number } = {}) {
  const { accountId, key } = on.shard === undefined ? await newAccount() : await accountOn(on.shard);
  const log = await logDbOf(accountId);
  const r = await receiver(script);
  const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["*"], ...settings } }), 201);
  const stub = env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(wh.id));
  let n = 0;
  const h = {
    accountId,
    key,
    log,
    r,
    wh,
    stub,
    /** Ingests one event and waits until the queue has done what it does with it at once. */
    send: async (data: Record<string, unknown> = completed(++n), type = "workflow.completed") => {
      const answer = (await expectJson(sendEvent({ type, account_id: accountId, data }), 202)) as { id: string; deliveries: number };
      await settle(h);
      return answer;
    },
  };
  return h;
}

export type Hook = Awaited<ReturnType<typeof hook>>;

/** Waits until the webhook's queue has finished the work it started in the background (a run after a hand-off). */
export async function settle(h: Pick<Hook, "stub">): Promise<void> {
  await idle(h.stub.id.toString());
}

/** Waits until every queue has finished the work it started in the background. */
export async function settleAll(): Promise<void> {
  await idleAll();
}

/** When the queue wants its alarm (ms, on the queues' clock), or null. */
export function alarmOf(h: Pick<Hook, "stub">): number | null {
  return wantedAlarm(h.stub.id.toString());
}

/**
 * Lets time pass until the queue's alarm is due and fires it: the next retry, batch, pause or expiry happens.
 * False when the queue wanted no alarm.
 */
export async function runDue(h: Pick<Hook, "stub">): Promise<boolean> {
  await settle(h);
  const at = alarmOf(h);
  if (at === null) return false;
  const wait = at - testClock.now();
  if (wait > 0) testClock.advance(wait);
  await runDurableObjectAlarm(h.stub);
  await settle(h);
  return true;
}

/** Moves the queues' clock ahead, firing every alarm that falls due on the way, until `ms` have passed. */
export async function elapse(h: Pick<Hook, "stub">, ms: number): Promise<void> {
  const until = testClock.now() + ms;
  for (;;) {
    await settle(h);
    const at = alarmOf(h);
    if (at === null || at > until) break;
    await runDue(h);
  }
  const rest = until - testClock.now();
  if (rest > 0) testClock.advance(rest);
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
