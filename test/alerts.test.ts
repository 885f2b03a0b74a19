import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, test } from "vitest";
import { call, completed, expectJson, receiver, sendEvent } from "./support/api";
import { deliveriesOf, deliveryOf, elapse, type Hook, hook, runDue, settle } from "./support/delivery";

// Operational events, as the receivers of an account's alert webhooks see them: a receiver that fails is reported
// failing at the 4th failure in a row, each dead letter is reported, the webhook is reported disabled, and its first
// success after that recovered — signed and delivered like any event, never to the webhook they are about.

/** Retries a second apart, five attempts: a delivery is dead-lettered four seconds after its first failure. */
const QUICK = { retry: { max_attempts: 5, base_delay_ms: 1000, multiplier: 1, max_delay_ms: 1000 } };

/** Another webhook of the same account, at a receiver of its own. */
async function sibling(h: Hook, body: Record<string, unknown>) {
  const r = await receiver();
  const wh = await expectJson(call("POST", "/v1/webhooks", { token: h.key, body: { url: r.url, ...body } }), 201);
  const stub = env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(wh.id));
  return { wh, r, stub };
}

type Sibling = Awaited<ReturnType<typeof sibling>>;

/** What a receiver got, parsed: the payloads in arrival order. */
async function payloads(r: Sibling["r"]) {
  return (await r.received()).map((req) => JSON.parse(req.body));
}

/** Lets the failing webhook's queue do what is due, then the alert webhook's. */
async function step(h: Hook, alerts: Sibling) {
  await runDue(h);
  await settle(alerts);
}

describe("a receiver that fails is reported to the account's alert webhook", () => {
  test("failing at the 4th failure (signed), then exhausted, disabled after the configured time, events held, recovered on enabling", async () => {
    // Six failures (five attempts of the first event, one of the second), then the receiver is fixed.
    const h = await hook({ ...QUICK, description: "Orders service" }, { answers: Array(6).fill({ status: 500 }), otherwise: { status: 200 } });
    const alerts = await sibling(h, { events: ["webhook.*", "delivery.*"] });

    const e1 = await h.send(completed(1));
    for (let i = 0; i < 2; i++) await step(h, alerts);
    expect(await alerts.r.received()).toHaveLength(0);
    await step(h, alerts);
    // The 4th failed attempt in a row: webhook.failing, signed like any delivery.
    const [failingReq] = await alerts.r.received();
    expect(failingReq.headers["x-broxiai-event"]).toBe("webhook.failing");
    expect(() => new Webhook(alerts.wh.secret).verify(failingReq.body, failingReq.headers)).not.toThrow();
    const failing = JSON.parse(failingReq.body);
    expect(failing).toMatchObject({
      type: "webhook.failing",
      account_id: h.accountId,
      data: {
        webhook: { id: h.wh.id, url: h.wh.url, description: "Orders service" },
        consecutive_failures: 4,
        last_status_code: 500,
        last_error: "HTTP 500",
        dashboard_url: `https://webhooks.test/webhooks/${h.wh.id}`,
      },
    });
    // Five days after the first failure (DISABLE_AFTER_FAILING_HOURS), less the few seconds gone since.
    expect(Date.parse(failing.data.disables_at) - Date.parse(failing.data.failing_since)).toBe(120 * 3_600_000);
    expect(failing.data.disables_in_s).toBeGreaterThan(120 * 3600 - 60);
    // The event is in the account's log like any other.
    expect(await expectJson(call("GET", `/v1/events/${failing.id}`, { token: h.key }), 200)).toMatchObject({ type: "webhook.failing" });

    // The 5th attempt was the last: the delivery is dead-lettered and reported at once.
    await step(h, alerts);
    const exhausted = (await payloads(alerts.r))[1];
    expect(exhausted).toMatchObject({
      type: "delivery.exhausted",
      data: { count: 1, deliveries: [{ event_id: e1.id, attempt_count: 5, last_status_code: 500 }], last_status_code: 500 },
    });

    // Nothing succeeds for five days: the next failure disables the webhook.
    await elapse(h, 121 * 3_600_000);
    const e2 = await h.send(completed(2));
    await settle(alerts);
    const disabled = (await payloads(alerts.r))[2];
    expect(disabled).toMatchObject({ type: "webhook.disabled", data: { reason: "failing", consecutive_failures: 6, held: 1 } });
    expect(disabled.data.message).toMatch(/^no successful delivery for 12\d h/);

    // Events sent while it is disabled are held for it, in order.
    const held = [];
    for (let n = 3; n <= 5; n++) held.push(await h.send(completed(n)));
    const off = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    expect(off).toMatchObject({ active: false, held: { count: 4, expired: 0 }, failing: { consecutive_failures: 6, disables_at: null } });
    expect((await h.r.received()).length).toBe(6);
    expect((await deliveriesOf(h, "?status=pending")).map((d) => d.event_id)).toEqual([...held.map((e) => e.id)].reverse().concat(e2.id));

    // Enabled again (held: "deliver" is the default): the held ones go out first, in order, with no gap in the sequence.
    const enabled = await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: true, held: "deliver" } }), 200);
    expect(enabled).toMatchObject({ active: true, disabled_reason: null, held: null });
    await settle(h);
    await settle(alerts);
    const after = (await h.r.received()).slice(6);
    expect(after.map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_2", "exe_3", "exe_4", "exe_5"]);
    const sequences = after.map((r) => Number(r.headers["x-broxiai-sequence"]));
    expect(sequences).toEqual([2, 3, 4, 5]);
    for (const e of [e2, ...held]) expect(await deliveryOf(h, e.id)).toMatchObject({ status: "delivered" });

    // Its first success since it was reported: recovered, once.
    expect((await payloads(alerts.r)).map((p) => p.type)).toEqual(["webhook.failing", "delivery.exhausted", "webhook.disabled", "webhook.recovered"]);
    // The whole outage: every failed attempt since the first, across the disable.
    const recovered = (await payloads(alerts.r))[3];
    expect(recovered).toMatchObject({ data: { webhook: { id: h.wh.id }, failed_attempts: 6, failing_since: failing.data.failing_since } });
    expect((await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200)).failing).toBeNull();
  });

  test("an operational event never reaches the webhook it is about; * never selects one", async () => {
    // The failing webhook subscribes to its own kind of alert, and so do a healthy one and one on "*".
    const h = await hook({ ...QUICK, events: ["*", "webhook.*", "delivery.*"] }, { otherwise: { status: 500 } });
    const named = await sibling(h, { events: ["webhook.failing"] });
    const everything = await sibling(h, { events: ["*"] });
    await h.send(completed(1));
    await settle(everything);
    for (let i = 0; i < 4; i++) await step(h, named);
    await settle(everything);
    expect((await payloads(named.r)).map((p) => p.type)).toEqual(["webhook.failing"]);
    // The failing webhook got only its own event's attempts; "*" got the platform's event and nothing else.
    expect((await payloads(h.r)).map((p) => p.type)).toEqual(Array(5).fill("workflow.completed"));
    expect((await payloads(everything.r)).map((p) => p.type)).toEqual(["workflow.completed"]);
  });

  test("a webhook that keeps failing is reminded at most once a day, with less time left each time", async () => {
    const hourly = { retry: { max_attempts: 30, base_delay_ms: 3_600_000, multiplier: 1, max_delay_ms: 3_600_000 } };
    const h = await hook(hourly, { otherwise: { status: 500 } });
    const alerts = await sibling(h, { events: ["webhook.failing"] });
    await h.send(completed(1));
    await settle(alerts);
    // Hourly attempts for 30 hours: the 4th failure, then one more a day later, and no more before the next day.
    for (let i = 0; i < 29; i++) await step(h, alerts);
    const reports = await payloads(alerts.r);
    expect(reports).toHaveLength(2);
    const [first, second] = reports.map((p) => p.data);
    expect(first.consecutive_failures).toBe(4);
    expect(second.consecutive_failures).toBeGreaterThan(20);
    expect(second.failing_since).toBe(first.failing_since);
    expect(Date.parse(reports[1].timestamp) - Date.parse(reports[0].timestamp)).toBeGreaterThanOrEqual(86_400_000);
    expect(first.disables_in_s - second.disables_in_s).toBeGreaterThanOrEqual(86_400);
  });

  test("a Slack-formatted alert webhook gets a message that says what broke", async () => {
    const h = await hook({ ...QUICK, description: "Billing" }, { otherwise: { status: 503 } });
    const slack = await sibling(h, { events: ["webhook.failing"], format: "slack" });
    await h.send(completed(1));
    for (let i = 0; i < 3; i++) await step(h, slack);
    const [message] = await payloads(slack.r);
    expect(message.text).toBe(":rotating_light: Webhook Billing is failing (4 failed attempts in a row): HTTP 503");
    const blocks = JSON.stringify(message.blocks);
    expect(blocks).toContain("HTTP 503");
    expect(blocks).toContain(`https://webhooks.test/webhooks/${h.wh.id}`);
  });

  test("dead letters in a burst are one report at once, then one with the count when the window closes", async () => {
    const h = await hook({ retry: { max_attempts: 1 }, ordering: "none" }, { otherwise: { status: 500 } });
    const alerts = await sibling(h, { events: ["delivery.exhausted"] });
    const sent = [];
    for (let n = 1; n <= 5; n++) sent.push(await h.send(completed(n)));
    await settle(alerts);
    expect((await payloads(alerts.r)).map((p) => p.data.count)).toEqual([1]);
    // DEAD_LETTER_ALERT_WINDOW_S (an hour) later, the other four, in one event.
    await step(h, alerts);
    const [first, rest] = await payloads(alerts.r);
    expect(rest).toMatchObject({ type: "delivery.exhausted", data: { count: 4 } });
    expect(Date.parse(rest.timestamp) - Date.parse(first.timestamp)).toBeLessThan(3_600_000);
    expect([first, rest].flatMap((p) => p.data.deliveries.map((d: { event_id: string }) => d.event_id)).sort()).toEqual(sent.map((e) => e.id).sort());
    // A quiet hour later, the next dead letter is reported at once again.
    await elapse(h, 2 * 3_600_000);
    await h.send(completed(6));
    await settle(alerts);
    expect((await payloads(alerts.r)).map((p) => p.data.count)).toEqual([1, 4, 1]);
  });
});

describe("an alert is not lost", () => {
  test("while D1 refuses the event, the alert waits in the queue and goes out once when it answers again", async () => {
    const h = await hook(QUICK, { otherwise: { status: 500 } });
    const alerts = await sibling(h, { events: ["webhook.failing"] });
    await h.send(completed(1));
    for (let i = 0; i < 2; i++) await step(h, alerts);
    // The 4th failure's alert cannot be stored: ingest fails, and the queue keeps it.
    await h.log
      .prepare("CREATE TRIGGER alerts_down BEFORE INSERT ON events WHEN NEW.type = 'webhook.failing' BEGIN SELECT RAISE(ABORT, 'D1 unavailable (test)'); END")
      .run();
    try {
      await step(h, alerts);
      await step(h, alerts);
      expect(await alerts.r.received()).toHaveLength(0);
    } finally {
      await h.log.prepare("DROP TRIGGER IF EXISTS alerts_down").run();
    }
    // The next run (the dead letter's, or the alarm set for the retry) emits it, under the id it was given.
    await elapse(h, 60_000);
    await settle(alerts);
    const got = await payloads(alerts.r);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: "webhook.failing", data: { consecutive_failures: 4 } });
    await elapse(h, 3_600_000);
    await settle(alerts);
    expect(await alerts.r.received()).toHaveLength(1);
  });
});

describe("held deliveries", () => {
  test("a person deactivates: reported, events held; enabling with held: discard cancels them and the next event shows the gap", async () => {
    const h = await hook();
    const alerts = await sibling(h, { events: ["webhook.disabled"] });
    await h.send(completed(1));
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: false } }), 200);
    await settle(h);
    await settle(alerts);
    expect(await payloads(alerts.r)).toMatchObject([{ type: "webhook.disabled", data: { reason: "manual", held: 0, webhook: { id: h.wh.id } } }]);

    const held = [await h.send(completed(2)), await h.send(completed(3))];
    expect(held.map((e) => e.deliveries)).toEqual([1, 1]);
    // held applies only to enabling.
    const refused = await call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { held: "discard" } });
    expect(refused.status).toBe(422);
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: true, held: "discard" } }), 200);
    await settle(h);
    for (const e of held) {
      expect(await deliveryOf(h, e.id)).toMatchObject({ status: "cancelled", attempt_count: 0, last_error: "discarded when the webhook was enabled again" });
    }
    await h.send(completed(4));
    const got = await h.r.received();
    expect(got.map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_1", "exe_4"]);
    // The sequence says two events were skipped.
    expect(got.map((r) => r.headers["x-broxiai-sequence"])).toEqual(["1", "4"]);
  });

  test("an event held longer than LOG_RETENTION_DAYS expires, and says why", async () => {
    const h = await hook({ active: false });
    const e = await h.send(completed(1));
    await elapse(h, 29 * 86_400_000);
    expect(await deliveryOf(h, e.id)).toMatchObject({ status: "pending" });
    await elapse(h, 2 * 86_400_000);
    expect(await deliveryOf(h, e.id)).toMatchObject({
      status: "expired",
      last_error: "held while the webhook was off for longer than LOG_RETENTION_DAYS",
    });
    expect(await h.r.received()).toHaveLength(0);
  });

  test("the platform cannot send an operational event", async () => {
    const h = await hook();
    const res = await sendEvent({ type: "webhook.disabled", account_id: h.accountId, data: { webhook: { id: h.wh.id, url: "x", description: "" } } });
    expect(res.status).toBe(422);
    expect(((await res.json()) as any).errors[0]).toMatchObject({ path: "type" });
  });
});
