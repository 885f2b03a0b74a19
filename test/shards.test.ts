import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { config, type Env } from "../src/config";
import worker from "../src/index";
import { shardFor } from "../src/shards";
import { call, completed, expectJson, newAccount, sendEvent } from "./support/api";
import { field, page, signIn } from "./support/dashboard";
import { cron, deliveriesOf, deliveryOf, type Hook, hook, runDue, settle } from "./support/delivery";
import { accountOn, logDbs, SHARDS, shardOf } from "./support/shards";

// The log sharded by account (src/shards.ts), with the suite's two shards: where accounts land, that every part of
// an account's log works on either shard, and that one database (LOG_SHARDS=1, the default) is the log as before.

const MAINTENANCE = { window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" }, message: "Database upgrade" };

/** Which log databases hold an event with this id for this account, by shard. */
async function holders(accountId: string, eventId: string): Promise<number[]> {
  const found = await Promise.all(logDbs().map((db) => db.prepare("SELECT 1 FROM events WHERE account_id = ? AND id = ?").bind(accountId, eventId).first()));
  return SHARDS.filter((_, i) => found[i] !== null);
}

/** A request to the Worker with another env (another LOG_SHARDS), as a deployment configured so would serve it. */
async function callWith(e: Env, method: string, path: string, token: string, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`https://webhooks.test${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    e,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

describe("where an account's log lives", () => {
  test("new accounts land on both shards, hash(account_id) mod LOG_SHARDS, and each event is stored in its account's shard only", async () => {
    const accounts = [];
    for (let i = 0; i < 16; i++) accounts.push(await newAccount());
    const shards = await Promise.all(accounts.map((a) => shardOf(a.accountId)));
    expect(new Set(shards)).toEqual(new Set(SHARDS));
    expect(shards).toEqual(accounts.map((a) => shardFor(a.accountId, 2)));
    for (const [i, a] of accounts.slice(0, 4).entries()) {
      const ev = await expectJson(sendEvent({ type: "workflow.completed", account_id: a.accountId, data: completed(i) }), 202);
      expect(await holders(a.accountId, ev.id)).toEqual([shards[i]]);
    }
  });

  test("with LOG_SHARDS=1 every account's log is in the main database; raising it later moves no account", async () => {
    const one: Env = { ...env, LOG_SHARDS: "1" };
    expect(config(one).LOG_SHARDS).toBe(1);
    // An account created under one database whose id two shards would put on shard 1.
    let account: { id: string } | null = null;
    for (let tries = 0; tries < 64 && !account; tries++) {
      const a = await expectJson(callWith(one, "POST", "/v1/accounts", env.PLATFORM_TOKEN, { name: "Early" }), 201);
      expect(await shardOf(a.id)).toBe(0);
      if (shardFor(a.id, 2) === 1) account = a;
    }
    if (!account) throw new Error("no account id hashed to shard 1 in 64 tries");
    const key = await expectJson(callWith(one, "POST", `/v1/accounts/${account.id}/api-keys`, env.PLATFORM_TOKEN, { name: "k" }), 201);
    const before = await expectJson(
      callWith(one, "POST", "/v1/events", env.PLATFORM_TOKEN, { type: "workflow.completed", account_id: account.id, data: completed(1) }),
      202,
    );
    expect(await holders(account.id, before.id)).toEqual([0]);
    // Now two shards (the suite's own env): the account keeps its log where it was.
    const after = await expectJson(sendEvent({ type: "workflow.completed", account_id: account.id, data: completed(2) }), 202);
    expect(await holders(account.id, after.id)).toEqual([0]);
    const list = await expectJson(call("GET", "/v1/events", { token: key.key }), 200);
    expect(list.data.map((e: { id: string }) => e.id)).toEqual([after.id, before.id]);
  });

  test("LOG_SHARDS past the databases bound is a configuration error naming the missing binding", () => {
    expect(() => config({ ...env, LOG_SHARDS: "3" })).toThrow(/LOG_SHARDS: 3 needs the D1 bindings LOG_DB_2/);
    expect(() => config({ ...env, LOG_SHARDS: "0" })).toThrow(/LOG_SHARDS/);
  });
});

describe.each(SHARDS)("an account whose log is on shard %i", (shard) => {
  test("events, deliveries with their attempts, stats, a test send and replay all answer from its shard", async () => {
    const h = await hook({ retry: { max_attempts: 1 } }, { answers: [{ status: 200, body: "first" }, { status: 500 }], otherwise: { status: 200 } }, { shard });
    expect(await shardOf(h.accountId)).toBe(shard);
    const ok = await h.send(completed(1));
    const failed = await h.send(completed(2));

    const events = await expectJson(call("GET", "/v1/events?type=workflow.completed", { token: h.key }), 200);
    expect(events.data.map((e: { id: string }) => e.id)).toEqual([failed.id, ok.id]);
    // The dead letter's operational event is the account's too, in the same shard.
    const all = await expectJson(call("GET", "/v1/events", { token: h.key }), 200);
    expect(all.data.map((e: { type: string }) => e.type)).toEqual(["delivery.exhausted", "workflow.completed", "workflow.completed"]);
    expect(await expectJson(call("GET", `/v1/events/${ok.id}`, { token: h.key }), 200)).toMatchObject({ id: ok.id, data: completed(1) });
    // A repeat is read from the shard and answered as the first time.
    expect(await expectJson(sendEvent({ id: ok.id, type: "workflow.completed", account_id: h.accountId, data: completed(1) }), 200)).toEqual(ok);

    expect((await deliveriesOf(h)).map((d) => [d.event_id, d.status])).toEqual([
      [failed.id, "failed"],
      [ok.id, "delivered"],
    ]);
    const first = await deliveryOf(h, ok.id);
    expect(first.attempts).toMatchObject([{ number: 1, status_code: 200, response_body: "first" }]);
    expect((await deliveryOf(h, failed.id)).attempts).toMatchObject([{ number: 1, status_code: 500 }]);
    expect(await expectJson(call("GET", `/v1/webhooks/${h.wh.id}/stats`, { token: h.key }), 200)).toMatchObject({ total: 2, delivered: 1, failed: 1 });

    const test = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    expect(await expectJson(call("GET", `/v1/deliveries/${test.delivery_id}`, { token: h.key }), 200)).toMatchObject({ status: "delivered" });

    const replay = await expectJson(
      call("POST", `/v1/webhooks/${h.wh.id}/replay`, { token: h.key, body: { since: new Date(Date.now() - 60_000).toISOString() } }),
      202,
    );
    expect(replay).toEqual({ replayed: 1 });
    await settle(h);
    const sent = (await h.r.received()).filter((r) => r.headers["x-broxiai-event"] !== "webhook.test");
    expect(sent.map((r) => r.headers["webhook-id"])).toEqual([ok.id, failed.id, failed.id]);
    expect(await deliveryOf(h, failed.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });

  test("the dashboard shows the webhook's delivery log and a delivery from its shard", async () => {
    const h = await hook({}, { otherwise: { status: 200, body: "dashboard-ok" } }, { shard });
    const ev = await h.send();
    const d = await deliveryOf(h, ev.id);
    const cookie = await signIn(h.key);
    const webhookPage = await page(`/webhooks/${h.wh.id}`, cookie);
    expect(webhookPage.status).toBe(200);
    const html = await webhookPage.text();
    expect(html).toContain(`/deliveries/${d.id}`);
    const deliveryPage = await (await page(`/deliveries/${d.id}`, cookie)).text();
    expect(deliveryPage).toContain("dashboard-ok");
    // A redelivery from the delivery page goes through the same API, to the same shard.
    const retried = await page(`/deliveries/${d.id}/retry`, cookie, { method: "POST", form: { _csrf: field(deliveryPage, "_csrf") } });
    expect(retried.status).toBe(303);
    await settle(h);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });

  test("a 410 disables the webhook in the main database though its log is in the shard; deleting it cancels what is held there", async () => {
    const h = await hook({}, { answers: [{ status: 410 }], otherwise: { status: 200 } }, { shard });
    const held = await h.send();
    const wh = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    expect(wh).toMatchObject({ active: false, disabled_reason: expect.stringMatching(/410/) });
    // A new event is held for the disabled webhook too (ingest reads the main database's row), in the shard.
    const later = await expectJson(sendEvent({ type: "workflow.completed", account_id: h.accountId, data: completed(9) }), 202);
    const pending = await deliveriesOf(h, "?status=pending");
    expect(pending.map((d) => d.event_id)).toEqual([later.id, held.id]);
    expect((await call("DELETE", `/v1/webhooks/${h.wh.id}`, { token: h.key })).status).toBe(204);
    await settle(h);
    // A deleted webhook's log stays readable by delivery id.
    for (const d of pending) expect(await expectJson(call("GET", `/v1/deliveries/${d.id}`, { token: h.key }), 200)).toMatchObject({ status: "cancelled" });
  });
});

describe("across shards", () => {
  test("a broadcast reaches accounts on every shard, each sees its own copy, and its repeat is answered once for all", async () => {
    const hooks: Hook[] = [];
    const quiet: { accountId: string; key: string }[] = [];
    for (const shard of SHARDS) {
      hooks.push(await hook({ events: ["system.maintenance"] }, {}, { shard }));
      quiet.push(await accountOn(shard));
    }
    const answer = await expectJson(sendEvent({ type: "system.maintenance", data: MAINTENANCE }), 202);
    expect(answer.deliveries).toBeGreaterThanOrEqual(hooks.length);
    for (const h of hooks) {
      await settle(h);
      const [req] = await h.r.received();
      expect(JSON.parse(req.body)).toEqual({
        id: answer.id,
        type: "system.maintenance",
        timestamp: expect.any(String),
        account_id: h.accountId,
        data: MAINTENANCE,
      });
      expect(await deliveryOf(h, answer.id)).toMatchObject({ status: "delivered" });
    }
    for (const a of [...hooks, ...quiet]) {
      expect(await holders(a.accountId, answer.id)).toEqual([await shardOf(a.accountId)]);
      const list = await expectJson(call("GET", "/v1/events?type=system.maintenance", { token: a.key }), 200);
      expect(list.data.filter((e: { id: string }) => e.id === answer.id)).toEqual([expect.objectContaining({ account_id: a.accountId })]);
    }
    expect(await expectJson(sendEvent({ id: answer.id, type: "system.maintenance", data: MAINTENANCE }), 200)).toEqual(answer);
    for (const h of hooks) {
      await settle(h);
      expect(await h.r.received()).toHaveLength(1);
    }
  });

  test("a batch for accounts on both shards stores each event in its account's shard, and one cron run purges both", async () => {
    const [a, b] = [await hook({}, {}, { shard: 0 }), await hook({}, {}, { shard: 1 })];
    const answer = await expectJson(
      call("POST", "/v1/events/batch", {
        token: env.PLATFORM_TOKEN,
        body: { events: [a, b, a].map((h, n) => ({ type: "workflow.completed", account_id: h.accountId, data: completed(n) })) },
      }),
      202,
    );
    await settle(a);
    await settle(b);
    expect(await holders(a.accountId, answer.data[0].id)).toEqual([0]);
    expect(await holders(b.accountId, answer.data[1].id)).toEqual([1]);
    expect((await a.r.received()).length + (await b.r.received()).length).toBe(3);
    // Forty days on, past the 30 days' retention: both shards' logs are purged in one run.
    await cron(Date.now() + 40 * 86_400_000);
    for (const h of [a, b]) {
      expect(await deliveriesOf(h)).toEqual([]);
      expect((await expectJson(call("GET", "/v1/events", { token: h.key }), 200)).data).toEqual([]);
    }
  });

  test("one shard's log refusing writes holds back only its own queues' log; the other shard's is written at once", async () => {
    const [down, up] = [await hook({}, {}, { shard: 1 }), await hook({}, {}, { shard: 0 })];
    await down.log.prepare("CREATE TRIGGER shard_down BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'D1 unavailable (test)'); END").run();
    try {
      await down.send();
      const u = await up.send();
      expect(await down.r.received()).toHaveLength(1);
      expect((await down.stub.status()).outbox).toBeGreaterThan(0);
      expect(await deliveriesOf(down)).toEqual([]);
      expect((await up.stub.status()).outbox).toBe(0);
      expect(await deliveryOf(up, u.id)).toMatchObject({ status: "delivered" });
    } finally {
      await down.log.prepare("DROP TRIGGER shard_down").run();
    }
    expect(await runDue(down)).toBe(true);
    expect((await down.stub.status()).outbox).toBe(0);
    expect((await deliveriesOf(down)).map((x) => x.status)).toEqual(["delivered"]);
  });

  test("an account's delivery is not found through another account on the other shard", async () => {
    const a = await hook({}, {}, { shard: 0 });
    const other = await accountOn(1);
    const ev = await a.send();
    const d = await deliveryOf(a, ev.id);
    expect((await call("GET", `/v1/deliveries/${d.id}`, { token: other.key })).status).toBe(404);
    expect((await call("GET", `/v1/events/${ev.id}`, { token: other.key })).status).toBe(404);
  });
});
