import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test, vi } from "vitest";
import { runMaintenance } from "../src/cron";
import type { QueueItem } from "../src/delivery/contract";
import { newId } from "../src/ids";
import { toQueueConfig } from "../src/webhooks/store";
import type { WebhookRow } from "../src/webhooks/types";
import { call, completed, expectJson, sendEvent } from "./support/api";
import { deliveriesOf, deliveryOf, type Hook, hook, runDue, settle } from "./support/delivery";
import { metered } from "./support/queue-seams";
import { SHARDS } from "./support/shards";

// The queue as a store: numbering that never repeats, wake-ups that resend only what is owed, what one delivery
// costs in the object's storage, when D1 first hears of a delivery, and the backstop alarm.

const run = (exe: string, n: number) => completed(n, { execution_id: exe, n });
const sequences = async (h: Hook) => (await h.r.received()).map((r) => Number(r.headers["x-broxiai-sequence"]));
const eventIds = async (h: Hook) => (await h.r.received()).map((r) => r.headers["webhook-id"]);

async function queueConfig(h: Hook) {
  return toQueueConfig((await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(h.wh.id).first<WebhookRow>())!);
}

/** Fresh queue items, as ingest makes them. */
function items(prefix: string, n: number, payload: (i: number) => unknown = (i) => ({ id: `evt_${prefix}_${i}` })): QueueItem[] {
  return Array.from({ length: n }, (_, i) => ({
    delivery_id: `dlv_${prefix}_${String(i).padStart(5, "0")}`,
    event_id: `evt_${prefix}_${i}`,
    event_type: "workflow.completed",
    payload: JSON.stringify(payload(i)),
    created_at: Date.now(),
    fresh: true,
  }));
}

describe("numbering and wake-ups", () => {
  test("the numbering goes on across an empty queue and a wake-up, and nothing done is sent again", async () => {
    const h = await hook();
    await h.send();
    await h.send();
    const [first] = await sequences(h);
    expect(await h.stub.status()).toMatchObject({ queued: 0, last_sequence: first + 1 });
    await evictDurableObject(h.stub);
    await h.send();
    await evictDurableObject(h.stub);
    await h.send();
    expect(await sequences(h)).toEqual([first, first + 1, first + 2, first + 3]);
  });

  test("after a wake-up, every delivery still owed is sent, in order, and none that was done", async () => {
    const h = await hook({}, { answers: [{ status: 200 }, { status: 200 }, { status: 500 }], otherwise: { status: 200 } });
    for (let i = 1; i <= 5; i++) await h.send(run("exe_A", i));
    expect((await h.r.received()).map((r) => JSON.parse(r.body).data.n)).toEqual([1, 2, 3]);
    await evictDurableObject(h.stub);
    await runDue(h);
    expect((await h.r.received()).map((r) => `${JSON.parse(r.body).data.n}/${r.headers["x-broxiai-attempt"]}`)).toEqual([
      "1/1",
      "2/1",
      "3/1",
      "3/2",
      "4/1",
      "5/1",
    ]);
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(Array(5).fill("delivered"));
  });

  test("a wake-up asks D1 nothing: with D1 refusing the log, a woken queue sends what it owes and only that", async () => {
    const h = await hook();
    const before = await h.send();
    await evictDurableObject(h.stub);
    await h.log.prepare("CREATE TRIGGER refuse_log BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'D1 unavailable (test)'); END").run();
    try {
      const ev = await h.send();
      expect(await eventIds(h)).toEqual([before.id, ev.id]);
    } finally {
      await h.log.prepare("DROP TRIGGER refuse_log").run();
    }
    await runDue(h);
    expect(await h.r.received()).toHaveLength(2);
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(["delivered", "delivered"]);
  });

  test("in key ordering, deliveries done above a held line are not sent again after a wake-up", async () => {
    // exe_A's head fails and holds its line while exe_B's rows, numbered above it, are delivered.
    const h = await hook({ ordering: "key", ordering_key: "data.execution_id" }, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    for (const [key, i] of [
      ["exe_A", 1],
      ["exe_B", 2],
      ["exe_A", 3],
      ["exe_B", 4],
      ["exe_B", 5],
    ] as const)
      await h.send(run(key, i));
    await evictDurableObject(h.stub);
    await runDue(h);
    expect((await h.r.received()).map((r) => `${JSON.parse(r.body).data.n}/${r.headers["x-broxiai-attempt"]}`)).toEqual([
      "1/1",
      "2/1",
      "4/1",
      "5/1",
      "1/2",
      "3/1",
    ]);
    expect(await h.stub.status()).toMatchObject({ queued: 0 });
  });

  test("redelivering a delivered event sends it under its first number; the next event takes the number after the last", async () => {
    const h = await hook();
    const ev = await h.send(run("exe_A", 1));
    for (let i = 2; i <= 4; i++) await h.send(run("exe_A", i));
    const [first] = await sequences(h);
    await expectJson(call("POST", `/v1/deliveries/${(await deliveryOf(h, ev.id)).id}/retry`, { token: h.key }), 202);
    await settle(h);
    // A wake-up after the redelivery sends nothing again: the rows it passed over are done.
    await evictDurableObject(h.stub);
    await h.send(run("exe_A", 5));
    expect(await sequences(h)).toEqual([first, first + 1, first + 2, first + 3, first, first + 4]);
    expect((await h.r.received()).map((r) => r.headers["x-broxiai-attempt"])).toEqual(["1", "1", "1", "1", "2", "1"]);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });
});

describe("what a delivery costs in the queue's storage", () => {
  test.each([
    { load: "one event at a time", perHandoff: 1, rowsPerDelivery: 2 },
    { load: "ten events a hand-off", perHandoff: 10, rowsPerDelivery: 1.1 },
  ])("$load: a row taken over for the delivery, and the done mark once per log write", async ({ perHandoff, rowsPerDelivery }) => {
    const h = await hook();
    const cfg = await queueConfig(h);
    // Warm: the queue has done rows to take over.
    await h.stub.enqueue(cfg, items(`warm${perHandoff}`, perHandoff));
    await settle(h);
    const stats = await metered(h.stub.id.toString(), async () => {
      for (let round = 0; round < 3; round++) {
        await h.stub.enqueue(cfg, items(`r${perHandoff}_${round}`, perHandoff));
        await settle(h);
      }
    });
    const delivered = 3 * perHandoff;
    expect(await h.r.received()).toHaveLength(4 * perHandoff);
    const written = stats.reduce((n, s) => n + s.written, 0);
    expect(written / delivered).toBeLessThanOrEqual(rowsPerDelivery);
  });

  test.each(["strict", "key", "none", "batch"] as const)("%s: runs over 3,000 queued rows read a bounded number of rows per statement", async (mode) => {
    const ordering = mode === "batch" ? "strict" : mode;
    const h = await hook(
      {
        ordering,
        ...(ordering === "key" ? { ordering_key: "data.execution_id" } : {}),
        ...(mode === "batch" ? { batch: { max_size: 50, max_wait_ms: 0 } } : {}),
        ttl_s: 86_400,
        rate_limit_per_s: 3,
      },
      { otherwise: { status: 500 } },
    );
    const cfg = await queueConfig(h);
    for (let i = 0; i < 6; i++) {
      await h.stub.enqueue(
        cfg,
        items(`backlog_${mode}_${i}`, 500, (j) => ({ id: `evt_${mode}_${i}_${j}`, data: { execution_id: `exe_${(i * 500 + j) % 7}` } })),
      );
    }
    // Two runs: the hand-offs' (which sends what the rate limit allows, and fails) and the retries'.
    const stats = await metered(h.stub.id.toString(), async () => {
      await settle(h);
      await runDue(h);
    });
    // Strict and batch send only the head, which fails; key (seven keys) and none are held to the rate limit.
    const requests = await h.r.received();
    expect(requests.length).toBeGreaterThanOrEqual(2);
    if (ordering !== "strict") expect(requests.length).toBeLessThanOrEqual(6);
    if (mode === "batch") expect(JSON.parse(requests[0].body).data.events).toHaveLength(50);
    expect(stats.length).toBeGreaterThan(0);
    for (const s of stats) expect(s.read).toBeLessThanOrEqual(600);
  });

  test("after a backlog of 520 drains, a hand-off reads a page of rows at most, not the 500 done ones", async () => {
    const h = await hook();
    const cfg = await queueConfig(h);
    await h.stub.enqueue(cfg, items("drain", 520));
    await settle(h);
    expect(await h.r.received()).toHaveLength(520);
    const stats = await metered(h.stub.id.toString(), async () => {
      await h.stub.enqueue(cfg, items("after", 1));
    });
    expect(await h.r.received()).toHaveLength(521);
    // The most any statement reads is the page of spares the next inserts take over (64), never all 500.
    for (const s of stats) expect(s.read).toBeLessThanOrEqual(64);
  });
});

/** Watches the webhook's log in D1 for delivery rows created pending, before any attempt (a test probe, in D1 only). */
async function watchPendingInserts(h: Hook): Promise<() => Promise<string[]>> {
  const table = `seen_${crypto.randomUUID().replaceAll("-", "")}`;
  await h.log.batch([
    h.log.prepare(`CREATE TABLE ${table} (id TEXT)`),
    h.log.prepare(
      `CREATE TRIGGER ${table}_t AFTER INSERT ON deliveries WHEN NEW.status = 'pending' AND NEW.attempt_count = 0 BEGIN INSERT INTO ${table} VALUES (NEW.id); END`,
    ),
  ]);
  return async () => (await h.log.prepare(`SELECT id FROM ${table}`).all<{ id: string }>()).results.map((r) => r.id);
}

/** An event stored at `at` (ms) listing one hand-off to the webhook that never reached its queue, as ingest leaves one. */
async function storedWithLostHandoff(h: Hook, at: number) {
  const eventId = `evt_lost_${crypto.randomUUID()}`;
  const deliveryId = newId("dlv", at);
  const data = run("exe_A", 1);
  await h.log
    .prepare("INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at, handoffs) VALUES (?, ?, 'workflow.completed', ?, ?, 1, ?, ?)")
    .bind(eventId, h.accountId, new Date(at).toISOString(), JSON.stringify(data), at, JSON.stringify([[h.wh.id, deliveryId]]))
    .run();
  return { eventId, deliveryId, data };
}

describe("D1 hears of a delivery at its outcome, or as soon as it waits", () => {
  test("a delivery sent at once reaches D1 first with its outcome: one row, never written pending", async () => {
    const h = await hook();
    const pendingInserts = await watchPendingInserts(h);
    const ev = await h.send();
    expect(await h.r.received()).toHaveLength(1);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 1, event_type: "workflow.completed", attempts: [{ number: 1 }] });
    expect(await pendingInserts()).toEqual([]);
  });

  test("a delivery waiting behind a failing head is written pending when the run that cannot send it ends", async () => {
    const h = await hook({}, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    const pendingInserts = await watchPendingInserts(h);
    await h.send(run("exe_A", 1));
    const second = await h.send(run("exe_A", 2));
    const d = await deliveryOf(h, second.id);
    expect(d).toMatchObject({ status: "pending", attempt_count: 0, attempts: [] });
    expect(await pendingInserts()).toEqual([d.id]);
    expect(await h.r.received()).toHaveLength(1);
  });

  test("deleting the webhook writes the deliveries D1 has not heard of yet as cancelled", async () => {
    const h = await hook({}, { otherwise: { status: 200, delay_ms: 1500 } });
    const first = await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", 1) }), 202);
    // The first is in flight to a slow receiver; the second waits behind it, not yet in D1.
    const second = await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", 2) }), 202);
    expect((await deliveriesOf(h)).map((d) => d.event_id)).toEqual([]);
    expect((await call("DELETE", `/v1/webhooks/${h.wh.id}`, { token: h.key })).status).toBe(204);
    await settle(h);
    const rows = (
      await h.log.prepare("SELECT event_id, status FROM deliveries WHERE webhook_id = ? ORDER BY id").bind(h.wh.id).all<{ event_id: string; status: string }>()
    ).results;
    expect(rows).toEqual([
      { event_id: first.id, status: "delivered" },
      { event_id: second.id, status: "cancelled" },
    ]);
    expect(await h.r.received()).toHaveLength(1);
  });

  test("a hand-off that never reached its queue is found by the cron sweep from the event's list, and delivered, on every log shard", async () => {
    // Both shards in one run: the sweep goes on from where its last run stopped, so a second test would start later.
    const now = Date.now();
    const lost: { h: Hook; eventId: string; deliveryId: string }[] = [];
    for (const shard of SHARDS) {
      const h = await hook({}, {}, { shard });
      const { eventId, deliveryId } = await storedWithLostHandoff(h, now - 5 * 60_000);
      lost.push({ h, eventId, deliveryId });
    }
    await runMaintenance(env, now);
    for (const { h, eventId, deliveryId } of lost) {
      await settle(h);
      expect((await h.r.received()).map((r) => r.headers["webhook-id"])).toEqual([eventId]);
      expect(await deliveryOf(h, eventId)).toMatchObject({ id: deliveryId, status: "delivered" });
    }
    // The next run reads on from where this one stopped, and D1 has the rows now: nothing is handed again.
    await runMaintenance(env, now + 60_000);
    for (const { h } of lost) {
      await settle(h);
      expect(await h.r.received()).toHaveLength(1);
    }
  });
});

describe("the backstop alarm of a run started by a hand-off", () => {
  test("a run that keeps up sets none, however long a stream keeps it going", async () => {
    const h = await hook({}, { otherwise: { status: 200, delay_ms: 300 } });
    const started = Date.now();
    // Each event is handed over while the one before is in flight, so one run sends them all, each at once.
    for (let n = 1; n <= 10; n++) {
      await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", n) }), 202);
      await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(n), { timeout: 5000, interval: 20 });
      expect((await h.stub.status()).alarm, `no alarm while event ${n} is in flight`).toBeNull();
    }
    expect(Date.now() - started, "the run lasted longer than the 2 s after which a backlog sets one").toBeGreaterThan(2500);
    await settle(h);
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(Array(10).fill("delivered"));
    expect((await h.stub.status()).alarm).toBeNull();
  });

  test("a run about to send a delivery due 2 s ago sets one 30 s ahead, and clears it when the backlog is through", async () => {
    const h = await hook(
      {},
      {
        answers: [
          { status: 200, delay_ms: 2500 },
          { status: 200, delay_ms: 1000 },
        ],
        otherwise: { status: 200 },
      },
    );
    await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", 1) }), 202);
    await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(1), { timeout: 5000, interval: 20 });
    // The second waits behind the slow first for 2.5 s: when it goes out, the queue is behind.
    await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", 2) }), 202);
    expect((await h.stub.status()).alarm).toBeNull();
    await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(2), { timeout: 5000, interval: 20 });
    const alarm = (await h.stub.status()).alarm;
    expect(alarm).not.toBeNull();
    expect(alarm! - Date.now()).toBeGreaterThan(25_000);
    expect(alarm! - Date.now()).toBeLessThanOrEqual(30_000);
    await settle(h);
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(["delivered", "delivered"]);
    expect((await h.stub.status()).alarm).toBeNull();
  });

  test("rows handed over again long after they were due (a repeated ingest, the sweep) set one before they go out", async () => {
    const h = await hook({}, { otherwise: { status: 200, delay_ms: 1500 } });
    // An event stored 5 minutes ago whose hand-off never reached the queue; the platform sends it again.
    const { eventId, data } = await storedWithLostHandoff(h, Date.now() - 5 * 60_000);
    await expectJson(sendEvent({ id: eventId, type: "workflow.completed", account_id: h.accountId, data }), 200);
    await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(1), { timeout: 5000, interval: 20 });
    expect((await h.stub.status()).alarm).not.toBeNull();
    await settle(h);
    expect((await deliveryOf(h, eventId)).status).toBe("delivered");
    expect((await h.stub.status()).alarm).toBeNull();
  });
});
