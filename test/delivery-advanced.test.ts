import { env } from "cloudflare:workers";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { describe, expect, test } from "vitest";
import type { QueueItem } from "../src/delivery/contract";
import { catalog } from "../src/events/catalog";
import { toQueueConfig } from "../src/webhooks/store";
import type { WebhookRow } from "../src/webhooks/types";
import { call, completed, expectJson } from "./support/api";
import { alarmOf, deliveriesOf, deliveryOf, elapse, type Hook, hook, runDue, settle } from "./support/delivery";
import { testClock } from "./support/queue-seams";

// Ordering by key and none, batching, rate limits, Slack format, redaction, ttl and auto-disable, as the receiver and
// the API see them.

/** The execution id, n and attempt of each request the receiver got, in arrival order. */
const seen = async (h: Hook) =>
  (await h.r.received()).map((r) => `${JSON.parse(r.body).data.execution_id}#${JSON.parse(r.body).data.n}/${r.headers["x-broxiai-attempt"]}`);

const run = (exe: string, n: number) => completed(n, { execution_id: exe, n });

/** Ingests events in one batch request: one hand-off to the queue for all of them. */
async function sendBatch(h: Hook, data: Record<string, unknown>[]) {
  const events = data.map((d) => ({ type: "workflow.completed", account_id: h.accountId, data: d }));
  const res = await expectJson(call("POST", "/v1/events/batch", { token: env.PLATFORM_TOKEN, body: { events } }), 202);
  await settle(h);
  return res.data as { id: string }[];
}

/** The webhook's settings as its queue takes them, from D1 (the API's record). */
async function queueConfig(h: Hook) {
  return toQueueConfig((await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(h.wh.id).first<WebhookRow>())!);
}

describe('ordering "key"', () => {
  test("one key's failing event holds back only that key", async () => {
    const h = await hook({ ordering: "key", ordering_key: "data.execution_id" }, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await h.send(run("exe_A", 2));
    await h.send(run("exe_B", 3));
    await h.send(run("exe_B", 4));
    await h.send(run("exe_C", 5));
    // exe_A's head waits for its retry, and exe_A#2 behind it; the other keys do not wait.
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1", "exe_B#4/1", "exe_C#5/1"]);
    expect((await h.stub.status()).queued).toBe(2);
    await runDue(h);
    expect((await seen(h)).slice(4)).toEqual(["exe_A#1/2", "exe_A#2/1"]);
    expect((await deliveriesOf(h)).every((d) => d.status === "delivered")).toBe(true);
  });

  test("events without the key share one line; switching a strict webhook to key ordering re-keys what is queued", async () => {
    const h = await hook({}, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await h.send(run("exe_A", 2));
    await h.send(run("exe_B", 3));
    // Strict: everything waits behind exe_A#1.
    expect(await seen(h)).toEqual(["exe_A#1/1"]);
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ordering: "key", ordering_key: "data.execution_id" } }), 200);
    await settle(h);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1"]);
    await runDue(h);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1", "exe_A#1/2", "exe_A#2/1"]);
  });

  test("through failures, expiry, dead letters, redelivery and re-keying, each key's events go out in order and all are settled", async () => {
    const h = await hook(
      { ordering: "key", ordering_key: "data.execution_id", retry: { max_attempts: 2 } },
      { answers: [{ status: 500 }, { status: 200 }, { status: 500 }, { status: 500 }, { status: 200 }, { status: 500 }], otherwise: { status: 200 } },
    );
    const keys = ["exe_A", "exe_B", "exe_C"];
    for (let i = 0; i < 9; i++) await h.send(run(keys[i % 3], i));
    await runDue(h);
    for (const d of await deliveriesOf(h, "?status=failed")) await expectJson(call("POST", `/v1/deliveries/${d.id}/retry`, { token: h.key }), 202);
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ordering: "none" } }), 200);
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ordering: "key" } }), 200);
    await elapse(h, 60_000);
    expect((await h.stub.status()).queued).toBe(0);
    expect((await deliveriesOf(h)).filter((d) => d.status === "pending")).toEqual([]);
    // Within a key, an event's first attempt never comes before the first attempt of an earlier event of that key.
    const firsts = (await h.r.received()).filter((r) => r.headers["x-broxiai-attempt"] === "1").map((r) => JSON.parse(r.body).data);
    for (const key of keys) {
      const order = firsts.filter((d) => d.execution_id === key).map((d) => d.n);
      expect(order, key).toEqual([...order].sort((a, b) => a - b));
    }
  });
});

describe('ordering "none"', () => {
  test("a failing event does not block the others", async () => {
    const h = await hook({ ordering: "none" }, { answers: [{ status: 500 }] });
    for (let i = 1; i <= 8; i++) await h.send(run("exe_A", i));
    const got = await seen(h);
    expect(got).toEqual(["exe_A#1/1", "exe_A#2/1", "exe_A#3/1", "exe_A#4/1", "exe_A#5/1", "exe_A#6/1", "exe_A#7/1", "exe_A#8/1"]);
    expect((await h.stub.status()).queued).toBe(1);
    await runDue(h);
    expect((await seen(h))[8]).toBe("exe_A#1/2");
  });

  test("sends side by side, at most six at once", async () => {
    const h = await hook({ ordering: "none" }, { otherwise: { status: 200, delay_ms: 400 } });
    await sendBatch(
      h,
      Array.from({ length: 9 }, (_, i) => run("exe_A", i + 1)),
    );
    const at = (await h.r.received()).map((r) => r.at).sort((a, b) => a - b);
    expect(at).toHaveLength(9);
    // Requests that arrive within 300 ms of the first of them were in flight together (each takes 400 ms).
    const together = Math.max(...at.map((t) => at.filter((u) => u >= t && u < t + 300).length));
    expect(together).toBeGreaterThan(1);
    expect(together).toBeLessThanOrEqual(6);
  });

  test("a slow answer holds up no other send: a slot takes the next event as soon as its own send is done", async () => {
    // The first request to arrive is answered after 1.5 s, every other one at once.
    const h = await hook({ ordering: "none" }, { answers: [{ status: 200, delay_ms: 1500 }], otherwise: { status: 200 } });
    await sendBatch(
      h,
      Array.from({ length: 12 }, (_, i) => run("exe_A", i + 1)),
    );
    const at = (await h.r.received()).map((r) => r.at).sort((a, b) => a - b);
    expect(at).toHaveLength(12);
    // All twelve arrived while the first still waited for its answer: none waited for it to free the other slots.
    expect(at[11] - at[0]).toBeLessThan(1000);
    expect((await deliveriesOf(h)).map((d: any) => d.status)).toEqual(Array(12).fill("delivered"));
  });
});

describe("batching", () => {
  test("max_size events travel as one signed request of type batch, in order; each delivery is delivered", async () => {
    const h = await hook({ batch: { max_size: 3, max_wait_ms: 60_000 } });
    const events = [await h.send(run("exe_A", 1)), await h.send(run("exe_A", 2)), await h.send(run("exe_A", 3)), await h.send(run("exe_A", 4))];
    const [req, ...rest] = await h.r.received();
    expect(rest).toHaveLength(0);
    const body = JSON.parse(req.body);
    expect(body.type).toBe("batch");
    expect(body.id).toMatch(/^bat_/);
    expect(body.account_id).toBe(h.accountId);
    expect(body.data.events.map((e: any) => e.id)).toEqual(events.slice(0, 3).map((e) => e.id));
    expect(body.data.events[0]).toMatchObject({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", 1) });
    expect(req.headers["webhook-id"]).toBe(body.id);
    expect(req.headers["x-broxiai-event"]).toBe("batch");
    expect(() =>
      new StandardWebhook(h.wh.secret).verify(req.body, {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      }),
    ).not.toThrow();
    for (const e of events.slice(0, 3)) {
      const d = await deliveryOf(h, e.id);
      expect(d).toMatchObject({ status: "delivered", attempt_count: 1 });
      expect(d.attempts[0].request_body).toBe(req.body);
    }
    // The fourth waits for company until max_wait_ms has passed.
    expect((await deliveryOf(h, events[3].id)).status).toBe("pending");
    await elapse(h, 30_000);
    expect(await h.r.received()).toHaveLength(1);
    await runDue(h);
    const last = (await h.r.received())[1];
    expect(JSON.parse(last.body).data.events.map((e: any) => e.id)).toEqual([events[3].id]);
    expect((await deliveryOf(h, events[3].id)).status).toBe("delivered");
  });

  test("a failed batch is retried whole, with the same batch id, and later events wait behind it", async () => {
    const h = await hook({ batch: { max_size: 2, max_wait_ms: 0 } }, { answers: [{ status: 500 }] });
    await sendBatch(h, [run("exe_A", 1), run("exe_A", 2)]);
    await h.send(run("exe_A", 3));
    expect(await h.r.received()).toHaveLength(1);
    await runDue(h);
    const [first, retry, next] = await h.r.received();
    expect(retry.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(retry.headers["x-broxiai-attempt"]).toBe("2");
    expect(retry.body.replace(/"timestamp":"[^"]+"/, "")).toBe(first.body.replace(/"timestamp":"[^"]+"/, ""));
    expect(JSON.parse(next.body).data.events.map((e: any) => e.data.n)).toEqual([3]);
    expect(next.headers["webhook-id"]).not.toBe(first.headers["webhook-id"]);
  });

  test("a row of a failed batch that expires while the batch waits is not sent with its retry, and stays expired", async () => {
    // Event 1 is 1.5 s older than 2 and 3; the batch's retry (after about a second) comes between their expiries.
    const h = await hook({ batch: { max_size: 3, max_wait_ms: 60_000 }, ttl_s: 2, retry: { base_delay_ms: 1000 } }, { answers: [{ status: 500 }] });
    const [e1] = await sendBatch(h, [run("exe_A", 1)]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const [e2] = await sendBatch(h, [run("exe_A", 2), run("exe_A", 3)]);
    expect(await h.r.received()).toHaveLength(1);
    await elapse(h, 1300);
    const [, retry] = await h.r.received();
    expect(JSON.parse(retry.body).data.events.map((e: any) => e.data.n)).toEqual([2, 3]);
    expect(await deliveryOf(h, e1.id)).toMatchObject({ status: "expired" });
    expect(await deliveryOf(h, e2.id)).toMatchObject({ status: "delivered" });
  });

  test("a full batch of 100 is formed, retried and settled (every statement within SQLite's bound-parameter limit)", async () => {
    const h = await hook({ batch: { max_size: 100, max_wait_ms: 0 } }, { answers: [{ status: 500 }] });
    expect(
      await sendBatch(
        h,
        Array.from({ length: 100 }, (_, i) => run("exe_A", i)),
      ),
    ).toHaveLength(100);
    await runDue(h);
    const [first, retry] = await h.r.received();
    expect(JSON.parse(first.body).data.events).toHaveLength(100);
    expect(retry.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(JSON.parse(retry.body).data.events.map((e: any) => e.data.n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await deliveriesOf(h, "?status=delivered&limit=200")).toHaveLength(100);
    expect(await h.stub.status()).toMatchObject({ queued: 0, outbox: 0 });
  });
});

describe("rate_limit_per_s", () => {
  test("caps requests per second; the rest follow as the bucket refills", async () => {
    const h = await hook({ rate_limit_per_s: 2 });
    for (let i = 1; i <= 5; i++) await h.send(run("exe_A", i));
    expect(await h.r.received()).toHaveLength(2);
    expect(await h.stub.status()).toMatchObject({ queued: 3 });
    expect(alarmOf(h)).not.toBeNull();
    await elapse(h, 1000);
    expect((await seen(h)).map((s) => s.split("/")[0])).toEqual(["exe_A#1", "exe_A#2", "exe_A#3", "exe_A#4"]);
  });
});

describe('format "slack"', () => {
  test("each event becomes a signed Slack message with text and blocks", async () => {
    const h = await hook({ format: "slack" });
    const ev = await h.send(run("exe_A", 1));
    const [req] = await h.r.received();
    const body = JSON.parse(req.body);
    expect(typeof body.text).toBe("string");
    expect(body.text.length).toBeGreaterThan(0);
    expect(Array.isArray(body.blocks)).toBe(true);
    expect(body.blocks.length).toBeGreaterThan(0);
    expect(JSON.stringify(body.blocks)).toContain(ev.id);
    // DASHBOARD_URL is set in vitest.config.ts: the message links to the delivery's page there.
    expect(JSON.stringify(body.blocks)).toContain(`https://webhooks.test/deliveries/${req.headers["x-broxiai-delivery"]}`);
    expect(req.headers["webhook-id"]).toBe(ev.id);
    expect(() =>
      new StandardWebhook(h.wh.secret).verify(req.body, {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      }),
    ).not.toThrow();
  });
});

describe("redact", () => {
  test("redacted paths read [redacted] in what the receiver gets and in the logged request body", async () => {
    const h = await hook({ redact: ["data.message.content", "data.user_id"] });
    const example = catalog.get("user.message.received")!.example as Record<string, any>;
    const ev = await h.send(example, "user.message.received");
    const [req] = await h.r.received();
    const body = JSON.parse(req.body);
    expect(body.data.message).toEqual({ ...example.message, content: "[redacted]" });
    expect(body.data.user_id).toBe("[redacted]");
    expect(body.data.session_id).toBe(example.session_id);
    expect(req.body).not.toContain(example.message.content);
    const d = await deliveryOf(h, ev.id);
    expect(d.attempts[0].request_body).toBe(req.body);
    expect(d.attempts[0].request_body).not.toContain(example.message.content);
  });
});

describe("ttl_s", () => {
  // Retries wait 80–120 s, so the 60 s ttl ends first.
  const slowRetry = { retry: { base_delay_ms: 100_000, max_delay_ms: 100_000 } };

  test("an event not delivered within ttl_s is expired and never sent again", async () => {
    const h = await hook({ ttl_s: 60, ...slowRetry }, { otherwise: { status: 500 } });
    const ev = await h.send(run("exe_A", 1));
    await elapse(h, 3_600_000);
    expect(await h.r.received()).toHaveLength(1);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "expired", attempt_count: 1, next_attempt_at: null, last_error: "not delivered within ttl_s" });
    expect(await h.stub.status()).toMatchObject({ queued: 0, alarm: null });
  });

  test("events waiting behind a failing head expire on time, logged even when the run sends nothing", async () => {
    // The head came before the webhook had a ttl_s, so it does not expire; the one behind it does.
    const h = await hook(slowRetry, { otherwise: { status: 500 } });
    await h.send(run("exe_A", 1));
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ttl_s: 60 } }), 200);
    const behind = await h.send(run("exe_A", 2));
    // The alarm is set for the earlier of the head's retry and the expiry.
    const start = testClock.now();
    await runDue(h);
    expect(testClock.now() - start).toBeLessThan(61_000);
    expect(await h.r.received()).toHaveLength(1);
    expect((await deliveryOf(h, behind.id)).status).toBe("expired");
  });

  test("a held event of a disabled webhook expires too", async () => {
    const h = await hook({ ttl_s: 60 }, { answers: [{ status: 500 }] });
    const ev = await h.send(run("exe_A", 1));
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: false } }), 200);
    expect((await h.stub.status()).alarm).not.toBeNull();
    await elapse(h, 120_000);
    expect((await deliveryOf(h, ev.id)).status).toBe("expired");
    expect(await h.r.received()).toHaveLength(1);
  });

  test("a backlog of expired events is settled and logged whole, not just its first page", async () => {
    const h = await hook({ ttl_s: 1, active: false });
    const old = Date.now() - 3_600_000;
    const items: QueueItem[] = Array.from({ length: 1200 }, (_, i) => ({
      delivery_id: `dlv_exp_${String(i).padStart(5, "0")}`,
      event_id: `evt_exp_${i}`,
      event_type: "workflow.completed",
      payload: "{}",
      created_at: old,
    }));
    const cfg = await queueConfig(h);
    // Held (the webhook is off) and long past their ttl_s: they are expired as soon as they arrive, all of them.
    for (let i = 0; i < items.length; i += 400) await h.stub.enqueue(cfg, items.slice(i, i + 400));
    await settle(h);
    const counts = (await h.log.prepare("SELECT status, count(*) AS n FROM deliveries WHERE webhook_id = ? GROUP BY status").bind(h.wh.id).all()).results;
    expect(counts).toEqual([{ status: "expired", n: 1200 }]);
    expect(await h.stub.status()).toMatchObject({ queued: 0, outbox: 0 });
  });
});

describe("auto-disable", () => {
  test("failing without a success for DISABLE_AFTER_FAILING_HOURS disables the webhook; re-enabling starts the clock again", async () => {
    const h = await hook({ retry: { max_attempts: 30 } }, { otherwise: { status: 500 } });
    const ev = await h.send(run("exe_A", 1));
    const since = (await h.stub.status()).failing_since;
    expect(since).toBeGreaterThan(Date.now() - 60_000);
    // The default is 120 h; the retries (every 10 h at most) go on failing past it.
    await elapse(h, 131 * 3_600_000);
    const wh = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    expect(wh.active).toBe(false);
    expect(wh.disabled_reason).toMatch(/^no successful delivery for 1[23]\d h \(last: HTTP 500\)/);
    const held = await deliveryOf(h, ev.id);
    expect(held.status).toBe("pending");
    // Held; the alarm waits only for the day it would pass LOG_RETENTION_DAYS (30 days after the event).
    const status = await h.stub.status();
    expect(status).toMatchObject({ active: false, queued: 1 });
    expect(status.alarm! - Date.parse(held.created_at)).toBe(30 * 86_400_000);

    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: true } }), 200);
    await settle(h);
    // The held delivery goes first, fails again, and the clock starts from this failure.
    expect((await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200)).active).toBe(true);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "pending", attempt_count: held.attempt_count + 1 });
    expect((await h.stub.status()).failing_since).toBeGreaterThan(since! + 120 * 3_600_000);
  });

  test("a success resets the clock", async () => {
    const h = await hook({ ordering: "none" }, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    await h.send(run("exe_A", 1));
    expect((await h.stub.status()).failing_since).not.toBeNull();
    await h.send(run("exe_A", 2));
    expect((await h.stub.status()).failing_since).toBeNull();
  });
});
