import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import type { EventInput } from "../src/events/input";
import { ingest } from "../src/ingest";
import { call, completed, expectJson, expectProblem, newAccount, receiver, sendEvent } from "./support/api";
import { settle, settleAll } from "./support/delivery";
import { accountOn, logDbOf, logDbs, SHARDS, withLogDb } from "./support/shards";
import { SPEC_EVENT_TYPES } from "./support/spec-types";

const PLATFORM_TOKEN = env.PLATFORM_TOKEN;

/** Asserts a problem document (in a batch answer too) that names `path` among its field errors. */
function expectNamed(problem: { status: number; errors?: { path: string }[]; detail: string }, path: string) {
  expect(problem.status).toBe(422);
  expect(problem.errors?.map((e) => e.path)).toContain(path);
  expect(problem.detail).toContain(path);
}

/** Row counts of everything ingest writes, to show bad input changed nothing. */
async function counts() {
  await settleAll();
  const accounts = (await env.DB.prepare("SELECT count(*) AS n FROM accounts").first<{ n: number }>())!.n;
  const logs = await Promise.all(
    logDbs().map((db) =>
      db
        .prepare("SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM deliveries) AS deliveries")
        .first<{ events: number; deliveries: number }>(),
    ),
  );
  return { events: sum(logs.map((l) => l!.events)), deliveries: sum(logs.map((l) => l!.deliveries)), accounts };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * The event's deliveries as D1 has them once their queues have done what they do at once (send, or write them
 * pending), from every log shard (a broadcast's are in each account's).
 */
const deliveryRows = async (eventId: string) => {
  await settleAll();
  const rows = await Promise.all(
    logDbs().map((db) =>
      db
        .prepare("SELECT webhook_id, account_id, status FROM deliveries WHERE event_id = ?")
        .bind(eventId)
        .all<{ webhook_id: string; account_id: string; status: string }>()
        .then((r) => r.results),
    ),
  );
  return rows.flat().sort((a, b) => (a.webhook_id < b.webhook_id ? -1 : 1));
};

/** A webhook to a receiver that takes everything, so what ingest hands off is delivered at once. */
async function createWebhook(key: string, body: Record<string, unknown>) {
  return expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: (await receiver()).url, ...body } }), 201);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const MAINTENANCE = { window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" }, message: "Database upgrade" };

describe("ingest counts the matching webhooks", () => {
  const CASES: [name: string, webhooks: Record<string, unknown>[], type: string, data: Record<string, unknown>, expected: number][] = [
    ["exact type", [{ events: ["workflow.completed"] }], "workflow.completed", completed(1), 1],
    ["another exact type", [{ events: ["workflow.failed"] }], "workflow.completed", completed(1), 0],
    ["category wildcard", [{ events: ["workflow.*"] }], "workflow.completed", completed(1), 1],
    ["other category wildcard", [{ events: ["component.*"] }], "workflow.completed", completed(1), 0],
    ["deeper wildcard", [{ events: ["user.*"] }], "user.session.started", { session_id: "s", user_id: "u" }, 1],
    ["everything", [{ events: ["*"] }], "api.quota.warning", { quota: { name: "tokens", limit: 10, used: 9, period: "day" } }, 1],
    ["filter that matches", [{ events: ["*"], filter: { "data.duration_ms": { $gt: 1000 } } }], "workflow.completed", completed(1), 1],
    ["filter that does not match", [{ events: ["*"], filter: { "data.duration_ms": { $gt: 60_000 } } }], "workflow.completed", completed(1), 0],
    ["filter on a missing field", [{ events: ["*"], filter: { "data.missing": { $exists: true } } }], "workflow.completed", completed(1), 0],
    // Held for it until it is enabled again (README, "Held deliveries").
    ["inactive webhook", [{ events: ["*"], active: false }], "workflow.completed", completed(1), 1],
    [
      "several webhooks, some matching",
      [{ events: ["workflow.completed"] }, { events: ["workflow.*"] }, { events: ["*"] }, { events: ["component.*"] }, { events: ["*"], active: false }],
      "workflow.completed",
      completed(1),
      4,
    ],
    ["no webhooks", [], "workflow.completed", completed(1), 0],
  ];
  test.each(CASES)("%s", async (_name, hooks, type, data, expected) => {
    const { accountId, key } = await newAccount();
    const ids: string[] = [];
    for (const h of hooks) ids.push((await createWebhook(key, h)).id);
    const answer = await expectJson(sendEvent({ type, account_id: accountId, data }), 202);
    expect(answer).toEqual({ id: expect.stringMatching(/^evt_[0-9A-Z]{26}$/), deliveries: expected });
    const rows = await deliveryRows(answer.id);
    expect(rows).toHaveLength(expected);
    for (const row of rows) {
      expect(ids).toContain(row.webhook_id);
      const off = hooks[ids.indexOf(row.webhook_id)].active === false;
      expect(row).toMatchObject({ account_id: accountId, status: off ? "pending" : "delivered" });
    }
  });

  test("a deleted webhook gets nothing", async () => {
    const { accountId, key } = await newAccount();
    const wh = await createWebhook(key, { events: ["*"] });
    expect((await call("DELETE", `/v1/webhooks/${wh.id}`, { token: key })).status).toBe(204);
    expect(await expectJson(sendEvent({ type: "workflow.completed", account_id: accountId, data: completed(1) }), 202)).toMatchObject({ deliveries: 0 });
  });

  test("another account's webhooks get nothing", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    await createWebhook(b.key, { events: ["*"] });
    const answer = await expectJson(sendEvent({ type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
    expect(answer.deliveries).toBe(0);
    expect(await deliveryRows(answer.id)).toEqual([]);
  });
});

describe("event ids and idempotency", () => {
  test("a platform id is kept; the same id again answers 200 with the same answer and creates nothing", async () => {
    const { accountId, key } = await newAccount();
    await createWebhook(key, { events: ["workflow.*"] });
    await createWebhook(key, { events: ["*"] });
    const id = `run:${crypto.randomUUID()}.completed`;
    const first = await call("POST", "/v1/events", {
      token: PLATFORM_TOKEN,
      body: { id, type: "workflow.completed", account_id: accountId, data: completed(1) },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get("content-type")).toMatch(/^application\/json/);
    const answer = await first.json();
    expect(answer).toEqual({ id, deliveries: 2 });
    const before = await counts();

    const again = await expectJson(sendEvent({ id, type: "workflow.completed", account_id: accountId, data: completed(2) }), 200);
    expect(again).toEqual(answer);
    expect(await counts()).toEqual(before);
    // The first version is the one kept.
    const stored = await expectJson(call("GET", `/v1/events/${encodeURIComponent(id)}`, { token: key }), 200);
    expect(stored.data).toEqual(completed(1));
  });

  test("a generated id is an evt_ id, different each time", async () => {
    const { accountId } = await newAccount();
    const a = await expectJson(sendEvent({ type: "workflow.started", account_id: accountId, data: { workflow_id: "w", execution_id: "e" } }), 202);
    const b = await expectJson(sendEvent({ type: "workflow.started", account_id: accountId, data: { workflow_id: "w", execution_id: "e" } }), 202);
    expect(a.id).toMatch(/^evt_/);
    expect(b.id).not.toBe(a.id);
  });

  test.each([["a"], ["A-Z_a-z.0-9:x"], ["x".repeat(128)], ["evt_01JD3S4K2M0000000000000000"], ["123"]])("id %s is kept", async (id) => {
    const { accountId } = await newAccount();
    const unique = id.length >= 128 ? id : `${id}${crypto.randomUUID().slice(0, 8)}`.slice(0, 128);
    expect(await expectJson(sendEvent({ id: unique, type: "workflow.completed", account_id: accountId, data: completed(1) }), 202)).toEqual({
      id: unique,
      deliveries: 0,
    });
  });

  test.each([[""], ["x".repeat(129)], ["has space"], ["slash/x"], ["ü"], ["hash#1"], ["q?x"], ["tab\t"], [42]])(
    "id %j → 422 naming id, nothing stored",
    async (id) => {
      const { accountId } = await newAccount();
      const before = await counts();
      expectNamed(await expectProblem(sendEvent({ id, type: "workflow.completed", account_id: accountId, data: completed(1) }), 422), "id");
      expect(await counts()).toEqual(before);
    },
  );
});

describe("bad events are refused and change nothing", () => {
  const good = (accountId: string) => ({ type: "workflow.completed", account_id: accountId, data: completed(1) });
  const CASES: [name: string, path: string, change: (e: Record<string, unknown>) => Record<string, unknown>][] = [
    ["an unknown type", "type", (e) => ({ ...e, type: "workflow.finished" })],
    ["the test type", "type", (e) => ({ ...e, type: "webhook.test" })],
    ["the batch envelope type", "type", (e) => ({ ...e, type: "batch" })],
    ["a wildcard type", "type", (e) => ({ ...e, type: "workflow.*" })],
    ["no type", "type", ({ type: _t, ...e }) => e],
    ["no data", "data", ({ data: _d, ...e }) => e],
    ["data that is a list", "data", (e) => ({ ...e, data: [1] })],
    ["data without workflow_id", "data.workflow_id", (e) => ({ ...e, data: { ...completed(1), workflow_id: undefined } })],
    ["workflow_id as a number", "data.workflow_id", (e) => ({ ...e, data: { ...completed(1), workflow_id: 7 } })],
    ["negative duration", "data.duration_ms", (e) => ({ ...e, data: { ...completed(1), duration_ms: -1 } })],
    ["a bad completed_at", "data.completed_at", (e) => ({ ...e, data: { ...completed(1), completed_at: "yesterday" } })],
    ["a failure without error", "data.error", (e) => ({ ...e, type: "workflow.failed", data: { workflow_id: "w", execution_id: "x" } })],
    [
      "a message with an unknown role",
      "data.message.role",
      (e) => ({ ...e, type: "user.message.received", data: { session_id: "s", user_id: "u", message: { id: "m", role: "robot", content: "hi" } } }),
    ],
    [
      "a quota with negative use",
      "data.quota.used",
      (e) => ({ ...e, type: "api.quota.exceeded", data: { quota: { name: "t", limit: 1, used: -1, period: "day" } } }),
    ],
    [
      "a maintenance window ending before it starts",
      "data.window.ends_at",
      (e) => ({ ...e, type: "system.maintenance", data: { ...MAINTENANCE, window: { starts_at: "2026-12-05T03:00:00Z", ends_at: "2026-12-05T02:00:00Z" } } }),
    ],
    ["no account_id", "account_id", ({ account_id: _a, ...e }) => e],
    ["a null account_id", "account_id", (e) => ({ ...e, account_id: null })],
    ["an empty account_id", "account_id", (e) => ({ ...e, account_id: "" })],
    ["an empty account_id on a maintenance notice", "account_id", (e) => ({ ...e, account_id: "", type: "system.maintenance", data: MAINTENANCE })],
    ["an unknown account", "account_id", (e) => ({ ...e, account_id: "acc_01AAAAAAAAAAAAAAAAAAAAAAAA" })],
    ["a timestamp that is not ISO 8601", "timestamp", (e) => ({ ...e, timestamp: "27/11/2026" })],
  ];
  test.each(CASES)("%s → 422 naming %s", async (_name, path, change) => {
    const { accountId, key } = await newAccount();
    await createWebhook(key, { events: ["*"] });
    const before = await counts();
    const event = JSON.parse(JSON.stringify(change(good(accountId))));
    expectNamed(await expectProblem(sendEvent(event), 422), path);
    expect(await counts()).toEqual(before);
  });

  test("malformed JSON → 400", async () => {
    const before = await counts();
    const body = await expectProblem(call("POST", "/v1/events", { token: PLATFORM_TOKEN, raw: '{"type": "workflow.completed",' }), 400);
    expect(body.detail).toMatch(/JSON/);
    await expectProblem(call("POST", "/v1/events/batch", { token: PLATFORM_TOKEN, raw: "{events: []}" }), 400);
    expect(await counts()).toEqual(before);
  });

  test("a body that is not JSON → 415", async () => {
    const before = await counts();
    const body = await expectProblem(
      call("POST", "/v1/events", { token: PLATFORM_TOKEN, raw: "type=workflow.completed", headers: { "content-type": "text/plain" } }),
      415,
    );
    expect(body.detail).toMatch(/application\/json/);
    expect(await counts()).toEqual(before);
  });

  test.each([["/v1/events"], ["/v1/events/batch"]])("a body over 256 KiB → 413 on %s", async (path) => {
    const { accountId } = await newAccount();
    const before = await counts();
    const event = { type: "workflow.completed", account_id: accountId, data: completed(1, { blob: "x".repeat(256 * 1024) }) };
    const body = await expectProblem(call("POST", path, { token: PLATFORM_TOKEN, body: path.endsWith("batch") ? { events: [event] } : event }), 413);
    expect(body.detail).toMatch(/256 KiB/);
    expect(await counts()).toEqual(before);
  });

  test("a body just under 256 KiB is accepted", async () => {
    const { accountId } = await newAccount();
    const event = { type: "workflow.completed", account_id: accountId, data: completed(1, { blob: "" }) };
    const size = JSON.stringify(event).length;
    (event.data as Record<string, unknown>).blob = "x".repeat(256 * 1024 - size);
    expect(JSON.stringify(event).length).toBe(256 * 1024);
    await expectJson(sendEvent(event), 202);
  });
});

describe("data is stored as sent", () => {
  test("unknown extra fields are kept, nested ones too, and a given timestamp", async () => {
    const { accountId, key } = await newAccount();
    const data = { ...completed(1), region: "eu", cost: { usd: 0.12, tokens: [1, 2] }, outputs: { answer: "42", nested: { deep: true } } };
    const answer = await expectJson(sendEvent({ type: "workflow.completed", account_id: accountId, data, timestamp: "2026-11-27T09:00:00.000+01:00" }), 202);
    const event = await expectJson(call("GET", `/v1/events/${answer.id}`, { token: key }), 200);
    expect(event).toEqual({
      id: answer.id,
      type: "workflow.completed",
      timestamp: "2026-11-27T09:00:00.000+01:00",
      account_id: accountId,
      data,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      deliveries: [],
    });
  });
});

describe("system.maintenance", () => {
  test("without account_id it reaches every account's subscribed webhooks, each payload carrying that webhook's account", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    const c = await newAccount("C");
    const ra = await receiver();
    const rb = await receiver();
    const wa = await expectJson(call("POST", "/v1/webhooks", { token: a.key, body: { url: ra.url, events: ["system.maintenance"] } }), 201);
    const wa2 = await createWebhook(a.key, { events: ["*"] });
    const wb = await expectJson(call("POST", "/v1/webhooks", { token: b.key, body: { url: rb.url, events: ["system.*"] } }), 201);
    const wc = await createWebhook(c.key, { events: ["workflow.*"] });
    const wcOff = await createWebhook(c.key, { events: ["*"], active: false });

    const answer = await expectJson(sendEvent({ type: "system.maintenance", data: MAINTENANCE }), 202);
    const rows = await deliveryRows(answer.id);
    // Every subscribed webhook in this test file's database, whichever test made it.
    expect(answer.deliveries).toBe(rows.length);
    const byWebhook = new Map(rows.map((r) => [r.webhook_id, r.account_id]));
    expect(byWebhook.get(wa.id)).toBe(a.accountId);
    expect(byWebhook.get(wa2.id)).toBe(a.accountId);
    expect(byWebhook.get(wb.id)).toBe(b.accountId);
    expect(byWebhook.has(wc.id)).toBe(false);
    // An inactive webhook's copy is held for it.
    expect(byWebhook.get(wcOff.id)).toBe(c.accountId);

    for (const [wh, r, accountId] of [
      [wa, ra, a.accountId],
      [wb, rb, b.accountId],
    ] as const) {
      const stub = env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(wh.id));
      await settle({ stub });
      const got = await r.received();
      expect(got).toHaveLength(1);
      expect(JSON.parse(got[0].body)).toEqual({
        id: answer.id,
        type: "system.maintenance",
        timestamp: expect.any(String),
        account_id: accountId,
        data: MAINTENANCE,
      });
    }

    // Each account sees it in its event log, as its own.
    for (const { key, accountId } of [a, b, c]) {
      const event = await expectJson(call("GET", `/v1/events/${answer.id}`, { token: key }), 200);
      expect(event.account_id).toBe(accountId);
      const list = await expectJson(call("GET", "/v1/events?type=system.maintenance", { token: key }), 200);
      expect(list.data.map((e: { id: string }) => e.id)).toContain(answer.id);
    }
  });

  test("with account_id it reaches only that account", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    const wa = await createWebhook(a.key, { events: ["system.maintenance"] });
    await createWebhook(b.key, { events: ["system.maintenance"] });
    const answer = await expectJson(sendEvent({ type: "system.maintenance", account_id: a.accountId, data: MAINTENANCE }), 202);
    expect(answer.deliveries).toBe(1);
    expect((await deliveryRows(answer.id)).map((r) => r.webhook_id)).toEqual([wa.id]);
    await expectProblem(call("GET", `/v1/events/${answer.id}`, { token: b.key }), 404);
  });
});

describe("batch", () => {
  const event = (accountId: string, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: "workflow.completed",
    account_id: accountId,
    data: completed(n),
    ...extra,
  });

  test("100 events → 202 with one result each, in order", async () => {
    const { accountId, key } = await newAccount();
    await createWebhook(key, { events: ["workflow.completed"] });
    const events = Array.from({ length: 100 }, (_, n) => event(accountId, n, n % 2 ? { id: `b100-${n}-${crypto.randomUUID()}` } : {}));
    const answer = await expectJson(call("POST", "/v1/events/batch", { token: PLATFORM_TOKEN, body: { events } }), 202);
    expect(answer.data).toHaveLength(100);
    answer.data.forEach((r: { id: string; deliveries: number }, n: number) => {
      expect(r.deliveries).toBe(1);
      if (n % 2) expect(r.id).toBe(events[n].id);
      else expect(r.id).toMatch(/^evt_/);
    });
    const stored = await (await logDbOf(accountId))
      .prepare(`SELECT id, data FROM events WHERE id IN (${answer.data.map(() => "?").join(",")})`)
      .bind(...answer.data.map((r: { id: string }) => r.id))
      .all<{ id: string; data: string }>();
    expect(stored.results).toHaveLength(100);
    const dataById = new Map(stored.results.map((r) => [r.id, JSON.parse(r.data)]));
    answer.data.forEach((r: { id: string }, n: number) => {
      expect(dataById.get(r.id)).toEqual(completed(n));
    });
  });

  test("some bad → 207; the good ones are stored, the bad ones leave nothing", async () => {
    const { accountId, key } = await newAccount();
    await createWebhook(key, { events: ["*"] });
    const tag = crypto.randomUUID();
    const events: unknown[] = [
      event(accountId, 0, { id: `ok-0-${tag}` }),
      event(accountId, 1, { id: `bad-type-${tag}`, type: "workflow.finished" }),
      event(accountId, 2, { id: `ok-2-${tag}` }),
      { id: `bad-data-${tag}`, type: "workflow.completed", account_id: accountId, data: { execution_id: "x", duration_ms: 1 } },
      event("acc_01AAAAAAAAAAAAAAAAAAAAAAAA", 4, { id: `bad-account-${tag}` }),
      "not an event",
      event(accountId, 6, { id: "has space" }),
      event(accountId, 7, { id: `ok-7-${tag}` }),
    ];
    const before = await counts();
    const res = await call("POST", "/v1/events/batch", { token: PLATFORM_TOKEN, body: { events } });
    const answer = await expectJson(res, 207);
    expect(answer.data).toHaveLength(events.length);
    expect(answer.data[0]).toEqual({ id: `ok-0-${tag}`, deliveries: 1 });
    expectNamed(answer.data[1].error, "type");
    expect(answer.data[2]).toEqual({ id: `ok-2-${tag}`, deliveries: 1 });
    expectNamed(answer.data[3].error, "data.workflow_id");
    expectNamed(answer.data[4].error, "account_id");
    expect(answer.data[5].error).toMatchObject({ type: expect.any(String), title: expect.any(String), status: 422, detail: expect.any(String) });
    expectNamed(answer.data[6].error, "id");
    expect(answer.data[7]).toEqual({ id: `ok-7-${tag}`, deliveries: 1 });
    for (const r of answer.data.filter((d: { error?: unknown }) => d.error)) {
      expect(r.error).toMatchObject({ type: expect.stringMatching(/^https:\/\//), title: expect.any(String), status: 422, detail: expect.any(String) });
    }
    expect(await counts()).toEqual({ ...before, events: before.events + 3, deliveries: before.deliveries + 3 });
    for (const bad of [`bad-type-${tag}`, `bad-data-${tag}`, `bad-account-${tag}`]) {
      await expectProblem(call("GET", `/v1/events/${bad}`, { token: key }), 404);
    }
  });

  test("an id repeated in a batch, or one already stored, gets the same answer as the first and creates nothing more", async () => {
    const { accountId, key } = await newAccount();
    await createWebhook(key, { events: ["*"] });
    await createWebhook(key, { events: ["workflow.*"] });
    const tag = crypto.randomUUID();
    const stored = await expectJson(sendEvent(event(accountId, 0, { id: `old-${tag}` })), 202);
    expect(stored.deliveries).toBe(2);
    const before = await counts();
    const answer = await expectJson(
      call("POST", "/v1/events/batch", {
        token: PLATFORM_TOKEN,
        body: { events: [event(accountId, 1, { id: `new-${tag}` }), event(accountId, 2, { id: `new-${tag}` }), event(accountId, 3, { id: `old-${tag}` })] },
      }),
      202,
    );
    expect(answer.data).toEqual([
      { id: `new-${tag}`, deliveries: 2 },
      { id: `new-${tag}`, deliveries: 2 },
      { id: `old-${tag}`, deliveries: 2 },
    ]);
    expect(await counts()).toEqual({ ...before, events: before.events + 1, deliveries: before.deliveries + 2 });
  });

  test.each(SHARDS)(
    "a batch's events are stored together in one D1 batch; one stored meanwhile by another request is a repeat (log shard %i)",
    async (shard) => {
      const { accountId, key } = await accountOn(shard);
      const log = await logDbOf(accountId);
      await createWebhook(key, { events: ["*"] });
      const tag = crypto.randomUUID();
      const inputs = Array.from({ length: 50 }, (_, n) => event(accountId, n, { id: `together-${n}-${tag}` })) as EventInput[];
      // Another request stores event 7 between this one's repeat check and its write.
      const stores: number[] = [];
      const db = new Proxy(log, {
        get: (t, k) =>
          k === "batch"
            ? async (statements: D1PreparedStatement[]) => {
                const events = statements.length;
                const storing = statements.some((s) => JSON.stringify(s).includes("INSERT INTO events"));
                if (storing && stores.length === 0) {
                  await t
                    .prepare(
                      "INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at) VALUES (?, ?, 'workflow.completed', ?, '{}', 0, ?)",
                    )
                    .bind(`together-7-${tag}`, accountId, new Date().toISOString(), Date.now())
                    .run();
                }
                if (storing) stores.push(events);
                return t.batch(statements);
              }
            : Reflect.get(t, k),
      });
      // The account's log database, watched; in the main database (shard 0) that is also where the version is read.
      const watched = withLogDb(shard, db);
      const results = await ingest(watched, inputs);
      expect(results.map((r) => r.status)).toEqual(inputs.map((_, n) => (n === 7 ? 200 : 202)));
      expect(results[7]).toEqual({ status: 200, body: { id: `together-7-${tag}`, deliveries: 0 } });
      // Fifty events of one statement each (their deliveries' rows are the queues' to write) in one batch, with the
      // account's webhooks_version when the log is in the main database: the insert of event 7 finds its key taken, and
      // that event alone is a repeat.
      const batch = shard === 0 ? 51 : 50;
      expect(stores).toEqual([batch]);
      await settleAll();
      const stored = await log.prepare("SELECT count(*) AS n FROM deliveries WHERE event_id LIKE ?").bind(`together-%-${tag}`).first<{ n: number }>();
      expect(stored?.n).toBe(49);
      // Without the interference, the same fifty (new ids) go in one batch.
      stores.length = 0;
      stores.push(-1);
      const again = await ingest(
        watched,
        inputs.map((e) => ({ ...e, id: `${e.id}-b` })),
      );
      expect(again.every((r) => r.status === 202)).toBe(true);
      expect(stores.slice(1)).toEqual([batch]);
    },
  );

  test.each([
    ["101 events", { events: Array.from({ length: 101 }, () => ({ type: "workflow.started", data: {} })) }, "events"],
    ["no events", { events: [] }, "events"],
    ["events that is not a list", { events: {} }, "events"],
    ["no events field", {}, "events"],
    ["an unknown field", { events: [{}], dry_run: true }, "dry_run"],
  ])("%s → 422 naming %s, nothing stored", async (_name, body, path) => {
    const { accountId } = await newAccount();
    const filled = JSON.parse(JSON.stringify(body).replaceAll('"data":{}', `"account_id":"${accountId}","data":{"workflow_id":"w","execution_id":"e"}`));
    const before = await counts();
    expectNamed(await expectProblem(call("POST", "/v1/events/batch", { token: PLATFORM_TOKEN, body: filled }), 422), path);
    expect(await counts()).toEqual(before);
  });
});

describe("the event log", () => {
  test("lists the account's events newest first, cursor-paged, even with platform ids that do not sort by time", async () => {
    const { accountId, key } = await newAccount();
    const tag = crypto.randomUUID().slice(0, 8);
    const ids = [`z-${tag}`, `a-${tag}`, `m-${tag}`, `0-${tag}`, `y-${tag}`];
    for (const [n, id] of ids.entries()) {
      await expectJson(sendEvent({ id, type: "workflow.completed", account_id: accountId, data: completed(n) }), 202);
      await sleep(3);
    }
    const generated = (await expectJson(sendEvent({ type: "workflow.completed", account_id: accountId, data: completed(9) }), 202)).id;
    const expected = [generated, ...[...ids].reverse()];

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: { id: string; account_id: string }[]; next_cursor: string | null } = await expectJson(
        call("GET", `/v1/events?type=workflow.completed&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token: key }),
        200,
      );
      sizes.push(page.data.length);
      seen.push(...page.data.map((e) => e.id));
      for (const e of page.data) expect(e.account_id).toBe(accountId);
      cursor = page.next_cursor;
    } while (cursor && sizes.length < 10);
    expect(sizes).toEqual([2, 2, 2]);
    expect(seen).toEqual(expected);

    const all = await expectJson(call("GET", "/v1/events?type=workflow.completed", { token: key }), 200);
    expect(all).toEqual({ data: expect.any(Array), next_cursor: null });
    expect(all.data.map((e: { id: string }) => e.id)).toEqual(expected);
  });

  test.each([["limit=0"], ["limit=201"], ["limit=x"]])("?%s → 422 naming limit", async (query) => {
    const { key } = await newAccount();
    expectNamed(await expectProblem(call("GET", `/v1/events?${query}`, { token: key }), 422), "limit");
  });

  test("a malformed cursor → 422 naming cursor", async () => {
    const { key } = await newAccount();
    expectNamed(await expectProblem(call("GET", "/v1/events?cursor=nonsense", { token: key }), 422), "cursor");
  });

  test("one account never sees another's events", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    const ea = await expectJson(sendEvent({ type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
    const eb = await expectJson(sendEvent({ type: "workflow.completed", account_id: b.accountId, data: completed(2) }), 202);
    const listB = await expectJson(call("GET", "/v1/events?limit=200", { token: b.key }), 200);
    const idsB = listB.data.map((e: { id: string }) => e.id);
    expect(idsB).toContain(eb.id);
    expect(idsB).not.toContain(ea.id);
    for (const e of listB.data) expect(e.account_id).toBe(b.accountId);
    const missing = await expectProblem(call("GET", `/v1/events/${ea.id}`, { token: b.key }), 404);
    const never = await expectProblem(call("GET", "/v1/events/evt_01AAAAAAAAAAAAAAAAAAAAAAAA", { token: b.key }), 404);
    expect(missing.title).toBe(never.title);
    expect(await expectJson(call("GET", `/v1/events/${ea.id}`, { token: a.key }), 200)).toMatchObject({ id: ea.id, account_id: a.accountId });
  });
});

const OPERATIONAL = ["webhook.failing", "webhook.disabled", "webhook.recovered", "delivery.exhausted"];
const SPEC_TYPES = [...SPEC_EVENT_TYPES, "webhook.test", ...OPERATIONAL];

describe("public documents", () => {
  test("GET /v1/event-types lists every type with a JSON Schema, no token needed", async () => {
    const catalog = await expectJson(call("GET", "/v1/event-types"), 200);
    // SPEC's table lists fifteen platform types; then webhook.test and the four operational types.
    const types = catalog.data.map((t: { type: string }) => t.type);
    expect([...types].sort()).toEqual([...SPEC_TYPES].sort());
    for (const entry of catalog.data) {
      expect(entry).toEqual({
        type: expect.any(String),
        category: expect.any(String),
        description: expect.any(String),
        schema: expect.any(Object),
        example: expect.any(Object),
      });
      expect(entry.description.length).toBeGreaterThan(10);
      expect(entry.schema.type).toBe("object");
      const category = /^(api|system)\./.test(entry.type)
        ? "system"
        : entry.type === "webhook.test"
          ? "test"
          : OPERATIONAL.includes(entry.type)
            ? "operational"
            : entry.type.split(".")[0];
      expect(entry.category).toBe(category);
    }
    const wc = catalog.data.find((t: { type: string }) => t.type === "workflow.completed");
    expect(wc.schema.required).toEqual(expect.arrayContaining(["workflow_id", "execution_id"]));
    expect(Object.keys(wc.schema.properties)).toEqual(expect.arrayContaining(["workflow_id", "execution_id", "duration_ms", "outputs"]));
  });

  test("each catalog example is accepted by ingest", async () => {
    const { accountId } = await newAccount();
    const catalog = await expectJson(call("GET", "/v1/event-types"), 200);
    for (const entry of catalog.data.filter((t: { type: string }) => t.type !== "webhook.test")) {
      // The operational types are the service's own: the platform cannot send one.
      if (OPERATIONAL.includes(entry.type)) await expectProblem(sendEvent({ type: entry.type, account_id: accountId, data: entry.example }), 422);
      else await expectJson(sendEvent({ type: entry.type, account_id: accountId, data: entry.example }), 202);
    }
  });

  const SPEC_ROUTES: [method: string, path: string][] = [
    ["post", "/v1/accounts"],
    ["post", "/v1/accounts/{}/api-keys"],
    ["delete", "/v1/accounts/{}/api-keys/{}"],
    ["post", "/v1/events"],
    ["post", "/v1/events/batch"],
    ["get", "/v1/events"],
    ["get", "/v1/events/{}"],
    ["get", "/v1/event-types"],
    ["post", "/v1/webhooks"],
    ["get", "/v1/webhooks"],
    ["get", "/v1/webhooks/{}"],
    ["patch", "/v1/webhooks/{}"],
    ["delete", "/v1/webhooks/{}"],
    ["post", "/v1/webhooks/{}/rotate-secret"],
    ["post", "/v1/webhooks/{}/test"],
    ["get", "/v1/webhooks/{}/deliveries"],
    ["get", "/v1/webhooks/{}/stats"],
    ["post", "/v1/webhooks/{}/replay"],
    ["get", "/v1/deliveries/{}"],
    ["post", "/v1/deliveries/{}/retry"],
  ];

  test("GET /openapi.json is OpenAPI 3.1 with every SPEC route", async () => {
    const doc = await expectJson(call("GET", "/openapi.json"), 200);
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title).toBeTruthy();
    const paths = new Map(Object.entries(doc.paths as Record<string, Record<string, unknown>>).map(([p, ops]) => [p.replace(/\{[^}]+\}/g, "{}"), ops]));
    for (const [method, path] of SPEC_ROUTES) {
      expect(paths.get(path), path).toBeDefined();
      expect(paths.get(path)?.[method], `${method} ${path}`).toBeDefined();
    }
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Problem).toBeDefined();
  });

  test("GET /docs renders every route as HTML", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('href="/openapi.json"');
    for (const [method, path] of SPEC_ROUTES) {
      const pattern = new RegExp(`${method.toUpperCase()}</span> <code>${path.replace(/[/.]/g, "\\$&").replace(/\{\}/g, "\\{[a-z_]+\\}")}</code>`);
      expect(html, `${method} ${path}`).toMatch(pattern);
    }
  });

  test.each([
    ["GET", "/v1/nothing"],
    ["GET", "/v2/webhooks"],
    ["POST", "/v1/event-types"],
    ["GET", "/openapi.yaml"],
  ])("%s %s → 404 problem", async (method, path) => {
    const body = await expectProblem(call(method, path), 404);
    expect(body.detail).toContain(path);
  });
});
