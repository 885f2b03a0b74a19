import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { toQueueConfig } from "../src/webhooks/store";
import type { WebhookRow } from "../src/webhooks/types";
import { call, completed, expectJson, receiver, sendEvent } from "./support/api";
import { cron, deliveriesOf, deliveryOf, elapse, type Hook, hook, runDue, settle } from "./support/delivery";
import { SHARDS } from "./support/shards";

// What happens around a delivery: D1 failing under it (the outbox), the webhook being paused, deleted or
// pointed elsewhere between attempts.

const ids = async (h: Hook) => (await h.r.received()).map((r) => JSON.parse(r.body).data.execution_id as string);

/** Makes D1 refuse what the delivery log writes (an attempt, a delivery's outcome) until the returned function undoes it. */
async function breakD1Log(db: D1Database): Promise<() => Promise<void>> {
  await db.batch([
    db.prepare("CREATE TRIGGER log_down_attempts BEFORE INSERT ON attempts BEGIN SELECT RAISE(ABORT, 'D1 unavailable (test)'); END"),
    db.prepare("CREATE TRIGGER log_down_outcome BEFORE UPDATE OF attempt_count ON deliveries BEGIN SELECT RAISE(ABORT, 'D1 unavailable (test)'); END"),
    db.prepare(
      "CREATE TRIGGER log_down_delivered BEFORE INSERT ON deliveries WHEN NEW.attempt_count > 0 BEGIN SELECT RAISE(ABORT, 'D1 unavailable (test)'); END",
    ),
  ]);
  return async () => {
    await db.batch(["log_down_attempts", "log_down_outcome", "log_down_delivered"].map((t) => db.prepare(`DROP TRIGGER IF EXISTS ${t}`)));
  };
}

/** The webhook's settings as its queue takes them, from D1 (the API's record). */
async function queueConfig(h: Hook) {
  return toQueueConfig((await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(h.wh.id).first<WebhookRow>())!);
}

// On each log shard: the outbox replays into the shard the log belongs to.
describe.each(SHARDS)("the outbox: delivery never waits on D1 (log shard %i)", (shard) => {
  test("with D1 failing, deliveries still go out; the log waits in the outbox and a later run writes it, in order", async () => {
    const h = await hook({}, { answers: [{ status: 500 }], otherwise: { status: 200 } }, { shard });
    const e1 = await h.send();
    const e2 = await h.send();
    // e1 failed once and waits for its retry; e2 waits behind it. D1 shows both pending.
    const restore = await breakD1Log(h.log);
    try {
      await runDue(h);
      expect(await ids(h)).toEqual(["exe_1", "exe_1", "exe_2"]);
      expect((await h.stub.status()).outbox).toBeGreaterThan(0);
      // D1 has not heard of the outcomes yet.
      const rows = (await h.log.prepare("SELECT status, attempt_count FROM deliveries WHERE webhook_id = ? ORDER BY id").bind(h.wh.id).all()).results;
      expect(rows).toEqual([
        { status: "pending", attempt_count: 1 },
        { status: "pending", attempt_count: 0 },
      ]);
      // A hand-off while D1 is still down is sent; its log waits behind the older entries.
      const e3 = await h.send();
      expect(await ids(h)).toEqual(["exe_1", "exe_1", "exe_2", "exe_3"]);
      expect((await h.stub.status()).alarm).not.toBeNull();
      await restore();
      expect(await runDue(h)).toBe(true);
      expect(await h.stub.status()).toMatchObject({ outbox: 0, queued: 0, alarm: null });
      const d1 = await deliveryOf(h, e1.id);
      expect(d1).toMatchObject({ status: "delivered", attempt_count: 2, last_status_code: 200 });
      expect(d1.attempts.map((a: any) => a.status_code)).toEqual([500, 200]);
      expect(await deliveryOf(h, e2.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
      expect(await deliveryOf(h, e3.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
      expect(await h.r.received()).toHaveLength(4);
    } finally {
      await restore().catch(() => {});
    }
  });

  test("a large wave's log, more than a storage row holds, waits in the outbox and is replayed whole", async () => {
    const h = await hook({ ordering: "none" }, { answers: Array(6).fill({ status: 200, delay_ms: 200 }) }, { shard });
    const restore = await breakD1Log(h.log);
    const events = [];
    try {
      // Six sends of 200 KB each, logged with their request bodies: over 2 MB, a Durable Object's largest row.
      for (let i = 1; i <= 6; i++) {
        events.push(
          await expectJson(
            sendEvent({ type: "workflow.completed", account_id: h.accountId, data: completed(i, { outputs: { blob: "x".repeat(200_000) } }) }),
            202,
          ),
        );
      }
      await settle(h);
      expect(await h.r.received()).toHaveLength(6);
      expect((await h.stub.status()).outbox).toBeGreaterThan(0);
    } finally {
      await restore();
    }
    await runDue(h);
    expect((await h.stub.status()).outbox).toBe(0);
    for (const e of events) {
      const d = await deliveryOf(h, e.id);
      expect(d).toMatchObject({ status: "delivered", attempt_count: 1 });
      expect(d.attempts[0].request_body.length).toBeGreaterThan(200_000);
    }
  });

  test("a test send while D1 fails is logged later: the outbox arms the alarm", async () => {
    const h = await hook({}, {}, { shard });
    const restore = await breakD1Log(h.log);
    let res: any;
    try {
      res = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
      expect(res.ok).toBe(true);
      expect((await h.stub.status()).outbox).toBeGreaterThan(0);
      expect((await h.stub.status()).alarm).not.toBeNull();
    } finally {
      await restore();
    }
    expect(await runDue(h)).toBe(true);
    expect(await expectJson(call("GET", `/v1/deliveries/${res.delivery_id}`, { token: h.key }), 200)).toMatchObject({ status: "delivered", attempt_count: 1 });
  });

  test("deleting a webhook with a full outbox still writes the outbox", async () => {
    const h = await hook({}, {}, { shard });
    const restore = await breakD1Log(h.log);
    let ev: { id: string };
    try {
      ev = await h.send();
      expect((await h.stub.status()).outbox).toBeGreaterThan(0);
      expect((await call("DELETE", `/v1/webhooks/${h.wh.id}`, { token: h.key })).status).toBe(204);
      expect((await h.stub.status()).outbox).toBeGreaterThan(0);
      expect((await h.stub.status()).alarm).not.toBeNull();
    } finally {
      await restore();
    }
    expect(await runDue(h)).toBe(true);
    expect((await h.stub.status()).outbox).toBe(0);
    const row = await h.log.prepare("SELECT id, status, attempt_count, last_status_code FROM deliveries WHERE event_id = ?").bind(ev.id).first<any>();
    // It was delivered before the delete; the log says so, and the attempt is there.
    expect(row).toMatchObject({ status: "delivered", attempt_count: 1, last_status_code: 200 });
    const d = await expectJson(call("GET", `/v1/deliveries/${row.id}`, { token: h.key }), 200);
    expect(d.attempts.map((a: any) => [a.number, a.status_code])).toEqual([[1, 200]]);
  });
});

// In one run for both shards: the sweep reads the events stored since its last run, so a run at a later time on the
// queues' clock would leave the other shard's test nothing to find.
test("the cron sweep empties an outbox when there is nothing left to send, on every log shard", async () => {
  const hooks = [];
  const events: { id: string }[] = [];
  for (const shard of SHARDS) {
    const h = await hook({}, {}, { shard });
    const restore = await breakD1Log(h.log);
    try {
      events.push(await h.send());
      expect((await h.stub.status()).outbox).toBeGreaterThan(0);
    } finally {
      await restore();
    }
    hooks.push(h);
  }
  // D1 has no row for either delivery yet: three minutes on, the sweeper looks for them and hands them over again.
  await cron(Date.now() + 3 * 60_000);
  for (const [i, h] of hooks.entries()) {
    await settle(h);
    expect((await h.stub.status()).outbox).toBe(0);
    expect(await deliveryOf(h, events[i].id)).toMatchObject({ status: "delivered", attempt_count: 1 });
    // The sweep's re-hand-off of a delivery the queue already sent changes nothing, now or later.
    expect(await h.r.received()).toHaveLength(1);
  }
  for (const h of hooks) await elapse(h, 3_600_000);
  for (const h of hooks) expect(await h.r.received()).toHaveLength(1);
});

describe("the webhook changes between attempts", () => {
  test("inactive: deliveries are held (new events too); active again: they go out in order", async () => {
    const h = await hook({}, { answers: [{ status: 500 }] });
    const e1 = await h.send();
    await h.send();
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: false } }), 200);
    const held = await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: completed(9) }), 202);
    expect(held.deliveries).toBe(1);
    await settle(h);
    expect(await h.stub.status()).toMatchObject({ queued: 3, active: false });
    await elapse(h, 3_600_000);
    expect(await ids(h)).toEqual(["exe_1"]);
    expect((await deliveryOf(h, e1.id)).status).toBe("pending");
    // The sweeper leaves an inactive webhook's deliveries alone.
    await cron(Date.now() + 3_600_000);
    await settle(h);
    expect(await ids(h)).toEqual(["exe_1"]);

    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: true } }), 200);
    await settle(h);
    expect(await ids(h)).toEqual(["exe_1", "exe_1", "exe_2", "exe_9"]);
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(["delivered", "delivered", "delivered"]);
  });

  test.each(SHARDS)("deleted: pending deliveries are cancelled and nothing more is sent (log shard %i)", async (shard) => {
    const h = await hook({}, { otherwise: { status: 500 } }, { shard });
    const e1 = await h.send();
    const e2 = await h.send();
    expect(await h.r.received()).toHaveLength(1);
    const cfg = await queueConfig(h);
    const res = await call("DELETE", `/v1/webhooks/${h.wh.id}`, { token: h.key });
    expect(res.status).toBe(204);
    const rows = (await h.log.prepare("SELECT event_id, status, next_attempt_at FROM deliveries WHERE webhook_id = ? ORDER BY id").bind(h.wh.id).all()).results;
    expect(rows).toEqual([
      { event_id: e1.id, status: "cancelled", next_attempt_at: null },
      { event_id: e2.id, status: "cancelled", next_attempt_at: null },
    ]);
    expect(await h.stub.status()).toMatchObject({ queued: 0, alarm: null });
    expect(await runDue(h)).toBe(false);
    // A late hand-off (the platform re-sending, the sweeper) is refused, even with the settings from before the delete.
    expect(
      await h.stub.enqueue(cfg, [{ delivery_id: "dlv_late", event_id: "evt_late", event_type: "workflow.completed", payload: "{}", created_at: Date.now() }]),
    ).toEqual({ accepted: 0 });
    await cron(Date.now() + 3_600_000);
    await settle(h);
    expect(await h.r.received()).toHaveLength(1);
    // And its deliveries cannot be retried.
    const retry = await call(
      "POST",
      `/v1/deliveries/${(await h.log.prepare("SELECT id FROM deliveries WHERE event_id = ?").bind(e1.id).first<any>()).id}/retry`,
      {
        token: h.key,
      },
    );
    expect(retry.status).toBe(409);
  });

  test("a new URL, headers or secret apply to the next retry", async () => {
    const h = await hook({ headers: { "x-version": "1" } }, { otherwise: { status: 500 } });
    const moved = await receiver();
    const ev = await h.send();
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { url: moved.url, headers: { "x-version": "2" } } }), 200);
    await runDue(h);
    const [first] = await h.r.received();
    const [retry] = await moved.received();
    expect(await h.r.received()).toHaveLength(1);
    expect(retry.headers["webhook-id"]).toBe(ev.id);
    expect(retry.headers["x-broxiai-attempt"]).toBe("2");
    expect(retry.headers["x-broxiai-sequence"]).toBe(first.headers["x-broxiai-sequence"]);
    expect(first.headers["x-version"]).toBe("1");
    expect(retry.headers["x-version"]).toBe("2");
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });

  test("a stale configuration never overwrites a newer one", async () => {
    const h = await hook();
    const cfg = await queueConfig(h);
    await h.stub.configure({ ...cfg, url: "http://127.0.0.1:1/old", updated_at: cfg.updated_at - 1 });
    await h.send();
    expect(await h.r.received()).toHaveLength(1);
  });
});
