import { describe, expect, test } from "vitest";
import { call, completed, expectJson, receiver, sendEvent } from "./support/api";
import { deliveriesOf, deliveryOf, elapse, type Hook, hook, runDue, settle } from "./support/delivery";
import { testClock } from "./support/queue-seams";

// Ordering, retries, backoff and the receiver's answers, against a real HTTP receiver. A hand-off is sent at once;
// retries happen when the test lets the queues' clock run to their alarm (runDue).

const ids = async (h: Hook) => (await h.r.received()).map((r) => JSON.parse(r.body).data.execution_id as string);

describe("strict ordering", () => {
  test("the next event waits until the one before succeeds", async () => {
    const h = await hook({}, { answers: [{ status: 200 }, { status: 500 }, { status: 503 }], otherwise: { status: 200 } });
    for (let i = 0; i < 5; i++) await h.send();
    // exe_2 failed: exe_3 to exe_5 wait behind it.
    expect(await ids(h)).toEqual(["exe_1", "exe_2"]);
    await runDue(h);
    expect(await ids(h)).toEqual(["exe_1", "exe_2", "exe_2"]);
    await runDue(h);
    expect(await ids(h)).toEqual(["exe_1", "exe_2", "exe_2", "exe_2", "exe_3", "exe_4", "exe_5"]);
    const got = await h.r.received();
    const seqs = got.map((r) => Number(r.headers["x-broxiai-sequence"]));
    expect(seqs.map((s) => s - seqs[0])).toEqual([0, 1, 1, 1, 2, 3, 4]);
    expect(got.map((r) => r.headers["x-broxiai-attempt"])).toEqual(["1", "1", "2", "3", "1", "1", "1"]);
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(Array(5).fill("delivered"));
    expect(await h.stub.status()).toMatchObject({ queued: 0, outbox: 0 });
  });

  test("a dead-lettered event lets the next one proceed; it is failed with every attempt logged", async () => {
    const h = await hook({ retry: { max_attempts: 2 } }, { answers: [{ status: 200 }, { status: 500 }, { status: 500, body: "still down" }] });
    const events = [];
    for (let i = 0; i < 5; i++) events.push(await h.send());
    await runDue(h);
    expect(await ids(h)).toEqual(["exe_1", "exe_2", "exe_2", "exe_3", "exe_4", "exe_5"]);
    const dead = await deliveryOf(h, events[1].id);
    expect(dead).toMatchObject({ status: "failed", attempt_count: 2, last_status_code: 500, next_attempt_at: null });
    expect(dead.last_error).toBe("HTTP 500; no attempts left (2 of 2)");
    expect(dead.attempts.map((a: any) => [a.number, a.status_code, a.response_body])).toEqual([
      [1, 500, ""],
      [2, 500, "still down"],
    ]);
    expect((await deliveriesOf(h, "?status=delivered")).length).toBe(4);
  });
});

describe("backoff schedule", () => {
  test("default policy: about 5 s after the first failure, then ×3, jittered ±20 %", async () => {
    const h = await hook({}, { otherwise: { status: 500 } });
    const ev = await h.send();
    const nominal = [5_000, 15_000, 45_000, 135_000];
    let attemptAt = testClock.now();
    for (const [i, delay] of nominal.entries()) {
      if (i > 0) {
        expect(await runDue(h)).toBe(true);
        attemptAt = testClock.now();
      }
      const d = await deliveryOf(h, ev.id);
      expect(d).toMatchObject({ status: "pending", attempt_count: i + 1, last_status_code: 500, last_error: "HTTP 500" });
      const next = Date.parse(d.next_attempt_at);
      expect(next).toBeGreaterThanOrEqual(attemptAt + delay * 0.8 - 5);
      expect(next).toBeLessThanOrEqual(attemptAt + delay * 1.2 + 1000);
      // The queue agrees with the log, and its alarm is set for then.
      const status = await h.stub.status();
      expect(Math.abs((status.next_attempt_at ?? 0) - next)).toBeLessThan(1000);
      expect(status.alarm).toBe(status.next_attempt_at);
    }
  });

  test("a custom policy: base 1 s, ×2, capped at 3 s", async () => {
    const h = await hook({ retry: { base_delay_ms: 1000, multiplier: 2, max_delay_ms: 3000, max_attempts: 6 } }, { otherwise: { status: 500 } });
    const ev = await h.send();
    for (const [i, delay] of [1000, 2000, 3000, 3000].entries()) {
      if (i > 0) await runDue(h);
      // The delay counts from the attempt, which began at its logged start and ended by now.
      const d = await deliveryOf(h, ev.id);
      const startedAt = Date.parse(d.attempts.at(-1).started_at);
      const next = Date.parse(d.next_attempt_at);
      expect(next).toBeGreaterThanOrEqual(startedAt + delay * 0.8 - 1);
      expect(next).toBeLessThanOrEqual(testClock.now() + Math.min(delay * 1.2, 3000) + 1);
    }
  });

  test.each([
    { status: 429, retryAfter: "7", expected: 7_000, note: "Retry-After 7 s" },
    { status: 503, retryAfter: "12", expected: 12_000, note: "Retry-After 12 s" },
    { status: 429, retryAfter: "3600", expected: 20_000, note: "capped at 20 s" },
    { status: 503, retryAfter: new Date(Date.now() + 3_600_000).toUTCString(), expected: 20_000, note: "capped at 20 s" },
  ])("$status with Retry-After $retryAfter waits $expected ms", async ({ status, retryAfter, expected, note }) => {
    const h = await hook({ retry: { max_delay_ms: 20_000 } }, { answers: [{ status, headers: { "retry-after": retryAfter } }] });
    const before = testClock.now();
    const ev = await h.send();
    const after = testClock.now();
    const d = await deliveryOf(h, ev.id);
    expect(d.status).toBe("pending");
    expect(d.last_status_code).toBe(status);
    expect(d.last_error).toContain(note);
    const next = Date.parse(d.next_attempt_at);
    expect(next).toBeGreaterThanOrEqual(before + expected - 1000);
    expect(next).toBeLessThanOrEqual(after + expected);
    await runDue(h);
    expect((await deliveryOf(h, ev.id)).status).toBe("delivered");
  });

  test("a 429 pauses the whole endpoint, not only its delivery", async () => {
    const h = await hook({ ordering: "none" }, { answers: [{ status: 429, headers: { "retry-after": "30" } }] });
    await h.send();
    const paused = (await h.stub.status()).paused_until;
    expect(paused).toBeGreaterThan(testClock.now() + 25_000);
    // New events are due at once, but the endpoint asked for quiet: nothing goes out until the pause ends.
    await h.send();
    await h.send();
    await elapse(h, 25_000);
    expect(await h.r.received()).toHaveLength(1);
    await runDue(h);
    expect(testClock.now()).toBeGreaterThanOrEqual(paused!);
    expect((await ids(h)).sort()).toEqual(["exe_1", "exe_1", "exe_2", "exe_3"]);
  });

  test("a 429 without Retry-After backs off like any failure", async () => {
    const h = await hook({}, { answers: [{ status: 429 }] });
    const before = testClock.now();
    const ev = await h.send();
    const next = Date.parse((await deliveryOf(h, ev.id)).next_attempt_at);
    expect(next).toBeGreaterThanOrEqual(before + 4000 - 5);
    expect(next).toBeLessThanOrEqual(testClock.now() + 6000 + 5);
  });
});

describe("what a failure is", () => {
  test("a timeout is retried, with the reason logged", async () => {
    const h = await hook({ timeout_ms: 200 }, { answers: [{ status: 200, delay_ms: 1500 }] });
    const ev = await h.send();
    const d = await deliveryOf(h, ev.id);
    expect(d).toMatchObject({ status: "pending", attempt_count: 1, last_status_code: null });
    expect(d.last_error).toMatch(/^timed out after 200 ms/);
    expect(d.attempts[0]).toMatchObject({ status_code: null, response_body: null, response_headers: null });
    expect(d.attempts[0].duration_ms).toBeGreaterThanOrEqual(150);
    expect(d.attempts[0].duration_ms).toBeLessThan(1400);
    await runDue(h);
    expect((await deliveryOf(h, ev.id)).status).toBe("delivered");
  });

  test("a connection dropped without an answer is retried", async () => {
    const h = await hook({}, { answers: [{ hangup: true }] });
    const ev = await h.send();
    const d = await deliveryOf(h, ev.id);
    expect(d).toMatchObject({ status: "pending", last_status_code: null });
    expect(d.last_error).toMatch(/^network error/);
    await runDue(h);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });

  test("a connection refused is retried", async () => {
    const h = await hook({ url: "http://127.0.0.1:1/nothing-listens-here" });
    const ev = await h.send();
    const d = await deliveryOf(h, ev.id);
    expect(d).toMatchObject({ status: "pending", last_status_code: null });
    expect(d.last_error).toMatch(/^network error/);
  });

  test.each([301, 302, 307, 308])("a %i is a failure and is not followed", async (status) => {
    const elsewhere = await receiver();
    const h = await hook({}, { answers: [{ status, headers: { location: elsewhere.url } }] });
    const ev = await h.send();
    expect(await elsewhere.received()).toHaveLength(0);
    const d = await deliveryOf(h, ev.id);
    expect(d).toMatchObject({ status: "pending", last_status_code: status, last_error: `HTTP ${status} (redirects are not followed)` });
    expect(d.attempts[0].response_headers.location).toBe(elsewhere.url);
  });

  test.each([200, 201, 202, 204, 299])("a %i is a success", async (status) => {
    const h = await hook({}, { otherwise: { status } });
    const ev = await h.send();
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", last_status_code: status, last_error: null });
  });

  test.each([400, 401, 404, 500, 502])("a %i is retried", async (status) => {
    const h = await hook({}, { answers: [{ status }] });
    const ev = await h.send();
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "pending", last_status_code: status, last_error: `HTTP ${status}` });
  });

  test("410 disables the webhook; its deliveries are held and go out in order when it is enabled again", async () => {
    // The receiver takes its time over the 410, so the second event arrives while the webhook is still active.
    const h = await hook({}, { answers: [{ status: 410, delay_ms: 300 }] });
    const e1 = await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: completed(1) }), 202);
    const e2 = await h.send(completed(2));
    const wh = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    expect(wh.active).toBe(false);
    expect(wh.disabled_reason).toMatch(/410/);
    expect(await deliveryOf(h, e1.id)).toMatchObject({ status: "pending", attempt_count: 1, last_status_code: 410 });
    expect(await deliveryOf(h, e2.id)).toMatchObject({ status: "pending", attempt_count: 0 });
    // Held, the alarm set only for when they would pass LOG_RETENTION_DAYS (30 days).
    const status = await h.stub.status();
    expect(status).toMatchObject({ queued: 2, active: false });
    expect(status.alarm).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    // Nothing is sent while disabled, however long.
    await elapse(h, 7 * 86_400_000);
    expect(await h.r.received()).toHaveLength(1);

    const enabled = await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: true } }), 200);
    expect(enabled).toMatchObject({ active: true, disabled_reason: null });
    await settle(h);
    expect(await ids(h)).toEqual(["exe_1", "exe_1", "exe_2"]);
    expect(await deliveryOf(h, e1.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
    expect(await deliveryOf(h, e2.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
  });
});

describe("the delivery log", () => {
  test("every attempt is recorded: request headers and body, response status, headers and body, duration, error", async () => {
    const huge = "x".repeat(100_000);
    const h = await hook(
      { headers: { "x-team": "core" } },
      { answers: [{ status: 500, body: huge, headers: { "x-why": "overloaded" } }], otherwise: { status: 200, body: '{"ok":true}' } },
    );
    const ev = await h.send();
    await runDue(h);
    const got = await h.r.received();
    const d = await deliveryOf(h, ev.id);
    expect(d).toMatchObject({ status: "delivered", attempt_count: 2, last_status_code: 200, last_error: null, event_type: "workflow.completed" });
    expect(d.delivered_at).not.toBeNull();
    expect(d.attempts).toHaveLength(2);
    const [a1, a2] = d.attempts;
    expect(a1).toMatchObject({ number: 1, status_code: 500, error: "HTTP 500", request_body: got[0].body });
    expect(a1.response_headers["x-why"]).toBe("overloaded");
    expect(a1.response_body.startsWith("xxxx")).toBe(true);
    expect(a1.response_body).toMatch(/…\[truncated\]$/);
    expect(new TextEncoder().encode(a1.response_body).length).toBeLessThanOrEqual(4096 + 20);
    expect(a2).toMatchObject({ number: 2, status_code: 200, error: null, response_body: '{"ok":true}', request_body: got[1].body });
    for (const [i, a] of d.attempts.entries()) {
      for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature", "x-broxiai-attempt", "x-broxiai-sequence", "user-agent"]) {
        expect(a.request_headers[name], name).toBe(got[i].headers[name]);
      }
      // A custom header's value is a secret: the receiver got it, the log shows it masked.
      expect(got[i].headers["x-team"]).toBe("core");
      expect(a.request_headers["x-team"]).toBe("…");
      expect(a.duration_ms).toBeGreaterThanOrEqual(0);
      expect(Date.parse(a.started_at)).toBeGreaterThan(Date.now() - 60_000);
      expect(Date.parse(a.started_at)).toBeLessThanOrEqual(testClock.now());
    }
  });

  test("a response body of exactly 4 KiB is kept whole", async () => {
    const body = "y".repeat(4096);
    const h = await hook({}, { otherwise: { status: 200, body } });
    const ev = await h.send();
    expect((await deliveryOf(h, ev.id)).attempts[0].response_body).toBe(body);
  });
});
