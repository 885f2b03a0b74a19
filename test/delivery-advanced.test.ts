import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { describe, expect, test, vi } from "vitest";
import { runMaintenance } from "../src/cron";
import type { QueueItem, WebhookQueue } from "../src/delivery/queue";
import { catalog } from "../src/events/catalog";
import { newId } from "../src/ids";
import { call, completed, expectJson, sendEvent } from "./support/api";
import { deliveriesOf, deliveryOf, type Hook, hook, runDue } from "./support/delivery";

// Ordering by key and none, batching, rate limits, Slack format, redaction, ttl, auto-disable, and a queue
// whose work per alarm stays bounded however long its backlog.

async function sql<T extends Record<string, SqlStorageValue>>(h: Hook, query: string, ...args: SqlStorageValue[]): Promise<T[]> {
  return runInDurableObject(h.stub, (_i, state) => state.storage.sql.exec<T>(query, ...args).toArray());
}

/** The execution id and attempt of each request the receiver got, in arrival order. */
const seen = async (h: Hook) =>
  (await h.r.received()).map((r) => `${JSON.parse(r.body).data.execution_id}#${JSON.parse(r.body).data.n}/${r.headers["x-broxiai-attempt"]}`);

const run = (exe: string, n: number) => completed(n, { execution_id: exe, n });

/** Every statement the queue runs during fn, with the rows it read and wrote and SQLite's plan for it. */
async function traced(h: Hook, fn: (q: WebhookQueue, exec: SqlStorage["exec"]) => Promise<unknown>) {
  return runInDurableObject(h.stub, async (instance: WebhookQueue, state) => {
    const sqlApi = state.storage.sql;
    const original = sqlApi.exec.bind(sqlApi);
    const seenQueries: { query: string; rows: number; read: number; written: number; plan: string[] }[] = [];
    (sqlApi as any).exec = (query: string, ...args: SqlStorageValue[]) => {
      const cursor = original(query, ...args);
      if (!/^\s*(SELECT|UPDATE|DELETE|INSERT)/i.test(query) || /\bEXPLAIN\b/i.test(query)) return cursor;
      const rows = cursor.toArray();
      const plan = original(`EXPLAIN QUERY PLAN ${query}`, ...args)
        .toArray()
        .map((r: any) => String(r.detail));
      seenQueries.push({ query: query.replace(/\s+/g, " ").trim(), rows: rows.length, read: cursor.rowsRead, written: cursor.rowsWritten, plan });
      return { toArray: () => rows, one: () => rows[0], rowsWritten: cursor.rowsWritten, [Symbol.iterator]: () => rows[Symbol.iterator]() };
    };
    try {
      await fn(instance, original);
    } finally {
      (sqlApi as any).exec = original;
    }
    return seenQueries;
  });
}

describe('ordering "key"', () => {
  test("one key's failing event holds back only that key", async () => {
    const h = await hook({ ordering: "key", ordering_key: "data.execution_id" }, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    await h.send(run("exe_A", 2));
    await h.send(run("exe_B", 3));
    await h.send(run("exe_B", 4));
    await h.send(run("exe_C", 5));
    // exe_A's head is still waiting for its retry; the other keys are not.
    await runDurableObjectAlarm(h.stub);
    const afterFirst = await seen(h);
    expect(afterFirst[0]).toBe("exe_A#1/1");
    expect(afterFirst.slice(1).sort()).toEqual(["exe_B#3/1", "exe_B#4/1", "exe_C#5/1"]);
    expect(afterFirst.indexOf("exe_B#3/1")).toBeLessThan(afterFirst.indexOf("exe_B#4/1"));
    expect((await h.stub.status()).queued).toBe(2);
    await runDue(h);
    expect((await seen(h)).slice(4)).toEqual(["exe_A#1/2", "exe_A#2/1"]);
    expect((await deliveriesOf(h)).every((d) => d.status === "delivered")).toBe(true);
  });

  test("events without the key share one line; switching a strict webhook to key ordering re-keys what is queued", async () => {
    const h = await hook({}, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    await h.send(run("exe_A", 2));
    await h.send(run("exe_B", 3));
    await runDurableObjectAlarm(h.stub);
    // Strict: everything waits behind exe_A#1.
    expect(await seen(h)).toEqual(["exe_A#1/1"]);
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ordering: "key", ordering_key: "data.execution_id" } }), 200);
    await runDurableObjectAlarm(h.stub);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1"]);
    await runDue(h);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1", "exe_A#1/2", "exe_A#2/1"]);
  });
});

// Version 1 of the queue's storage: finished rows kept (state 'done'), four state indexes, a unique delivery id, no head flag.
const V1_QUEUE = `CREATE TABLE queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
  payload TEXT NOT NULL, order_key TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, batch_id TEXT);
CREATE INDEX queue_heads ON queue(state, order_key, seq);
CREATE INDEX queue_due ON queue(state, next_at);
CREATE INDEX queue_line ON queue(state, seq);
CREATE INDEX queue_expiry ON queue(state, expires_at);`;

// Version 3 of the queue's storage: as now, but numbered by AUTOINCREMENT (a counter row written on every insert).
const V3_QUEUE = `CREATE TABLE queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
  payload TEXT NOT NULL, order_key TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER, batch_id TEXT, head INTEGER NOT NULL DEFAULT 0);
CREATE INDEX queue_line ON queue(order_key, seq) WHERE order_key <> '';
CREATE INDEX queue_ready ON queue(next_at, seq) WHERE head = 1;
CREATE INDEX queue_expiry ON queue(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX queue_batch ON queue(batch_id) WHERE batch_id IS NOT NULL;`;

/** Earlier versions of the queue's storage, and how each held the highest number used so far. */
const OLD_QUEUES: {
  version: number;
  schema: string;
  /** A row of today's queue as that version stored it (a column it lacked is undefined). */
  row: (r: Record<string, SqlStorageValue>) => Record<string, SqlStorageValue | undefined>;
  markLast: string;
  last: number;
}[] = [
  {
    version: 1,
    schema: V1_QUEUE,
    // No head flag, and keys without their 'k:' prefix.
    row: (r: Record<string, SqlStorageValue>) => ({ ...r, order_key: String(r.order_key).replace(/^k:/, ""), head: undefined }),
    // A finished row holds the highest number so far.
    markLast: `INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, state, next_at, created_at)
               VALUES (50, 'dlv_old', 'evt_old', 'workflow.completed', '', 'done', 0, 0)`,
    last: 50,
  },
  {
    version: 3,
    schema: V3_QUEUE,
    row: (r: Record<string, SqlStorageValue>) => r,
    // The counter went on past rows since deleted (done deliveries): it stands at 70.
    markLast:
      "INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, next_at, created_at) VALUES (70, 'x', 'x', 'x', '', 0, 0); DELETE FROM queue WHERE seq = 70",
    last: 70,
  },
];

test.each(OLD_QUEUES)(
  "a queue stored by version $version is rebuilt when its object wakes up: nothing lost, order kept, no number used twice",
  async ({ schema, row, markLast, last }) => {
    const h = await hook({ ordering: "key", ordering_key: "data.execution_id" }, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    await h.send(run("exe_A", 2));
    await h.send(run("exe_B", 3));
    await runInDurableObject(h.stub, (_i, s) => {
      const rows = s.storage.sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM queue WHERE delivery_id <> '' ORDER BY seq").toArray();
      s.storage.sql.exec("DROP TABLE queue");
      s.storage.sql.exec(schema);
      for (const r of rows) {
        const old = row(r);
        const columns = ["seq", "delivery_id", "event_id", "event_type", "payload", "order_key", "attempts", "next_at", "created_at", "head"].filter(
          (k) => old[k] !== undefined,
        );
        s.storage.sql.exec(`INSERT INTO queue (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, ...columns.map((k) => old[k]));
      }
      s.storage.sql.exec(markLast);
    });
    await evictDurableObject(h.stub);
    // The highest number used so far is held by a placeholder row (no delivery), which is never sent.
    expect(await h.stub.status()).toMatchObject({ queued: 3, placeholder: last });
    expect(await sql(h, "SELECT seq FROM queue WHERE delivery_id = ''")).toEqual([{ seq: last }]);
    const table = await sql<{ sql: string }>(h, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'queue'");
    expect(table[0].sql).not.toMatch(/AUTOINCREMENT/i);
    const heads = await sql<{ event_id: string; head: number; order_key: string }>(
      h,
      "SELECT event_id, head, order_key FROM queue WHERE delivery_id <> '' ORDER BY seq",
    );
    expect(heads.map((r) => [r.order_key, r.head])).toEqual([
      ["k:exe_A", 1],
      ["k:exe_A", 0],
      ["k:exe_B", 1],
    ]);
    await runDurableObjectAlarm(h.stub);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1"]);
    await runDue(h);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1", "exe_A#1/2", "exe_A#2/1"]);
    await h.send(run("exe_C", 4));
    await runDurableObjectAlarm(h.stub);
    expect((await h.r.received()).at(-1)?.headers["x-broxiai-sequence"]).toBe(String(last + 1));
    // The new row went above the upgrade's placeholder, which stays a spare (never sent); the new row, done, holds
    // the number now.
    expect(await sql(h, "SELECT seq FROM queue WHERE delivery_id = ''")).toEqual([{ seq: last }]);
    const after = await h.stub.status();
    expect(after).toMatchObject({ queued: 0, placeholder: last + 1 });
    expect(after.spares).toContain(last);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#3/1", "exe_A#1/2", "exe_A#2/1", "exe_C#4/1"]);
  },
);

test("heads stay exactly the lowest queued sequence of each key through sends, failures, expiry, redelivery and re-keying", async () => {
  const h = await hook(
    { ordering: "key", ordering_key: "data.execution_id", ttl_s: 3600, retry: { max_attempts: 2 } },
    { answers: [{ status: 500 }, { status: 200 }, { status: 500 }, { status: 500 }, { status: 200 }, { status: 500 }], otherwise: { status: 200 } },
  );
  const check = async (step: string) => {
    // Spares (done rows kept for reuse, the highest among them holding the number) are in no line.
    const { spares } = await h.stub.status();
    const flagged = await sql<{ seq: number }>(h, "SELECT seq FROM queue WHERE head = 1 ORDER BY seq");
    const lowest = await sql<{ seq: number }>(h, `SELECT min(seq) AS seq FROM queue WHERE seq NOT IN (${spares.join(",")}) GROUP BY order_key ORDER BY 1`);
    expect(flagged, step).toEqual(lowest);
  };
  const keys = ["exe_A", "exe_B", "exe_C"];
  const events = [];
  for (let i = 0; i < 9; i++) events.push(await h.send(run(keys[i % 3], i)));
  await check("enqueued");
  await runDurableObjectAlarm(h.stub);
  await check("first run");
  await sql(h, "UPDATE queue SET expires_at = 1 WHERE seq IN (SELECT seq FROM queue ORDER BY seq DESC LIMIT 2)");
  await runDue(h);
  await check("expired two, retried");
  const failed = (await deliveriesOf(h, "?status=failed")).map((d) => d.id);
  for (const id of failed) await expectJson(call("POST", `/v1/deliveries/${id}/retry`, { token: h.key }), 202);
  await check("redelivered");
  await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ordering: "none" } }), 200);
  await check("re-keyed to none");
  await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { ordering: "key" } }), 200);
  await check("re-keyed to key");
  for (let i = 0; i < 5 && (await h.stub.status()).queued > 0; i++) {
    await runDue(h);
    await check(`drain ${i}`);
  }
  expect((await h.stub.status()).queued).toBe(0);
  const statuses = (await deliveriesOf(h)).map((d) => d.status).sort();
  expect(statuses.filter((st) => st === "pending")).toEqual([]);
});

describe('ordering "none"', () => {
  test("a failing event does not block the others", async () => {
    const h = await hook({ ordering: "none" }, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    for (let i = 2; i <= 8; i++) await h.send(run("exe_A", i));
    await runDurableObjectAlarm(h.stub);
    const got = await seen(h);
    expect(got).toHaveLength(8);
    expect(got.slice(1).sort()).toEqual(["exe_A#2/1", "exe_A#3/1", "exe_A#4/1", "exe_A#5/1", "exe_A#6/1", "exe_A#7/1", "exe_A#8/1"]);
    expect((await h.stub.status()).queued).toBe(1);
    await runDue(h);
    expect((await seen(h))[8]).toBe("exe_A#1/2");
  });

  test("sends concurrently, up to a bound", async () => {
    const h = await hook({ ordering: "none" }, { otherwise: { status: 200, delay_ms: 300 } });
    for (let i = 1; i <= 6; i++) await h.send(run("exe_A", i));
    const started = Date.now();
    await runDurableObjectAlarm(h.stub);
    // Six requests of 300 ms each, side by side: well under the 1.8 s they would take one after another.
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await h.r.received()).toHaveLength(6);
  });
});

describe("batching", () => {
  test("max_size events travel as one signed request of type batch, in order; each delivery is delivered", async () => {
    const h = await hook({ batch: { max_size: 3, max_wait_ms: 60_000 } });
    const events = [await h.send(run("exe_A", 1)), await h.send(run("exe_A", 2)), await h.send(run("exe_A", 3)), await h.send(run("exe_A", 4))];
    await runDurableObjectAlarm(h.stub);
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
    await runDurableObjectAlarm(h.stub);
    expect(await h.r.received()).toHaveLength(1);
    await sql(h, "UPDATE queue SET created_at = created_at - 60000");
    await runDurableObjectAlarm(h.stub);
    const last = (await h.r.received())[1];
    expect(JSON.parse(last.body).data.events.map((e: any) => e.id)).toEqual([events[3].id]);
    expect((await deliveryOf(h, events[3].id)).status).toBe("delivered");
  });

  test("a failed batch is retried whole, with the same batch id, and later events wait behind it", async () => {
    const h = await hook({ batch: { max_size: 2, max_wait_ms: 0 } }, { answers: [{ status: 500 }] });
    await h.send(run("exe_A", 1));
    await h.send(run("exe_A", 2));
    await runDurableObjectAlarm(h.stub);
    await h.send(run("exe_A", 3));
    await runDurableObjectAlarm(h.stub);
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
    const h = await hook({ batch: { max_size: 3, max_wait_ms: 0 }, ttl_s: 3600 }, { answers: [{ status: 500 }] });
    const events = [];
    for (let i = 1; i <= 3; i++) events.push(await h.send(run("exe_A", i)));
    await runDurableObjectAlarm(h.stub);
    expect(await h.r.received()).toHaveLength(1);
    await sql(h, "UPDATE queue SET expires_at = 1 WHERE seq = (SELECT max(seq) FROM queue)");
    await runDue(h);
    const [, retry] = await h.r.received();
    expect(JSON.parse(retry.body).data.events.map((e: any) => e.data.n)).toEqual([1, 2]);
    expect(await deliveryOf(h, events[2].id)).toMatchObject({ status: "expired" });
    expect(await deliveryOf(h, events[0].id)).toMatchObject({ status: "delivered" });
  });

  test("a full batch of 100 is formed, retried and settled (every statement within SQLite's bound-parameter limit)", async () => {
    const h = await hook({ batch: { max_size: 100, max_wait_ms: 0 } }, { answers: [{ status: 500 }] });
    const events = Array.from({ length: 100 }, (_, i) => ({ type: "workflow.completed", account_id: h.accountId, data: run("exe_A", i) }));
    const ingested = await expectJson(call("POST", "/v1/events/batch", { token: env.PLATFORM_TOKEN, body: { events } }), 202);
    expect(ingested.data).toHaveLength(100);
    await runDurableObjectAlarm(h.stub);
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
  test("caps the requests of one alarm run; the rest follow a second later", async () => {
    const h = await hook({ rate_limit_per_s: 2 });
    for (let i = 1; i <= 5; i++) await h.send(run("exe_A", i));
    await runDurableObjectAlarm(h.stub);
    expect(await h.r.received()).toHaveLength(2);
    expect(await h.stub.status()).toMatchObject({ queued: 3 });
    expect((await h.stub.status()).alarm).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await runDurableObjectAlarm(h.stub);
    expect(await h.r.received()).toHaveLength(4);
    expect((await seen(h)).map((s) => s.split("/")[0])).toEqual(["exe_A#1", "exe_A#2", "exe_A#3", "exe_A#4"]);
  });
});

describe('format "slack"', () => {
  test("each event becomes a signed Slack message with text and blocks", async () => {
    const h = await hook({ format: "slack" });
    const ev = await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
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
    await runDurableObjectAlarm(h.stub);
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
  test("an event not delivered within ttl_s is expired and never sent again", async () => {
    const h = await hook({ ttl_s: 60 }, { otherwise: { status: 500 } });
    const ev = await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    await sql(h, "UPDATE queue SET expires_at = 1, next_at = 0");
    await runDurableObjectAlarm(h.stub);
    expect(await h.r.received()).toHaveLength(1);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "expired", attempt_count: 1, next_attempt_at: null, last_error: "not delivered within ttl_s" });
    expect(await h.stub.status()).toMatchObject({ queued: 0, alarm: null });
  });

  test("events waiting behind a failing head expire on time, logged even when the run sends nothing", async () => {
    const h = await hook({ ttl_s: 60 }, { otherwise: { status: 500 } });
    await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    const behind = await h.send(run("exe_A", 2));
    const expiresAt = (await sql<{ expires_at: number }>(h, "SELECT expires_at FROM queue WHERE event_id = ?", behind.id))[0].expires_at;
    expect(expiresAt).toBeGreaterThan(Date.now() + 55_000);
    // The alarm is set for the earlier of the head's retry and the expiry.
    await sql(h, "UPDATE queue SET expires_at = 1 WHERE event_id = ?", behind.id);
    await runDurableObjectAlarm(h.stub);
    expect(await h.r.received()).toHaveLength(1);
    expect((await deliveryOf(h, behind.id)).status).toBe("expired");
  });

  test("a held event of a disabled webhook expires too", async () => {
    const h = await hook({ ttl_s: 60 });
    const ev = await h.send(run("exe_A", 1));
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: false } }), 200);
    expect((await h.stub.status()).alarm).not.toBeNull();
    await sql(h, "UPDATE queue SET expires_at = 1");
    await runDurableObjectAlarm(h.stub);
    expect((await deliveryOf(h, ev.id)).status).toBe("expired");
    expect(await h.r.received()).toHaveLength(0);
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
    const cfg = await runInDurableObject(h.stub, (_i, s) =>
      JSON.parse(s.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'config'").one().value),
    );
    for (let i = 0; i < items.length; i += 400) await h.stub.enqueue(cfg, items.slice(i, i + 400));
    // The webhook is off, so the queue wrote them to D1 as pending at the hand-off.
    const pending = (await env.DB.prepare("SELECT status, count(*) AS n FROM deliveries WHERE webhook_id = ? GROUP BY status").bind(h.wh.id).all()).results;
    expect(pending).toEqual([{ status: "pending", n: 1200 }]);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    const counts = (await env.DB.prepare("SELECT status, count(*) AS n FROM deliveries WHERE webhook_id = ? GROUP BY status").bind(h.wh.id).all()).results;
    expect(counts).toEqual([{ status: "expired", n: 1200 }]);
    expect(await h.stub.status()).toMatchObject({ queued: 0, outbox: 0 });
  });
});

describe("auto-disable", () => {
  test("failing without a success for DISABLE_AFTER_FAILING_HOURS disables the webhook; re-enabling starts the clock again", async () => {
    const h = await hook({}, { otherwise: { status: 500 } });
    const ev = await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    const since = Number((await sql<{ value: string }>(h, "SELECT value FROM meta WHERE key = 'failing_since'"))[0].value);
    expect(since).toBeGreaterThan(Date.now() - 60_000);
    await sql(h, "UPDATE meta SET value = ? WHERE key = 'failing_since'", String(Date.now() - 121 * 3_600_000));
    await runDue(h);
    const wh = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    expect(wh.active).toBe(false);
    expect(wh.disabled_reason).toMatch(/^no successful delivery for 121 h \(last: HTTP 500\)/);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "pending", attempt_count: 2 });
    expect(await h.stub.status()).toMatchObject({ active: false, queued: 1, alarm: null });

    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { active: true } }), 200);
    expect(await sql(h, "SELECT value FROM meta WHERE key = 'failing_since'")).toEqual([]);
    await runDurableObjectAlarm(h.stub);
    expect((await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200)).active).toBe(true);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "pending", attempt_count: 3 });
  });

  test("a success resets the clock", async () => {
    const h = await hook({ ordering: "none" }, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    await h.send(run("exe_A", 1));
    await runDurableObjectAlarm(h.stub);
    expect(await sql(h, "SELECT value FROM meta WHERE key = 'failing_since'")).toHaveLength(1);
    await h.send(run("exe_A", 2));
    await runDurableObjectAlarm(h.stub);
    expect(await sql(h, "SELECT value FROM meta WHERE key = 'failing_since'")).toEqual([]);
  });
});

describe("a long backlog", () => {
  test.each(["strict", "key", "none", "batch"] as const)(
    "%s: alarm runs over 3,000 queued rows read a bounded number of rows, through indexes",
    async (mode) => {
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
      const cfg = await runInDurableObject(h.stub, (_i, s) =>
        JSON.parse(s.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'config'").one().value),
      );
      const now = Date.now();
      for (let i = 0; i < 3000; i += 500) {
        await h.stub.enqueue(
          cfg,
          Array.from({ length: 500 }, (_, j) => ({
            delivery_id: `dlv_backlog_${mode}_${String(i + j).padStart(5, "0")}`,
            event_id: `evt_backlog_${i + j}`,
            event_type: "workflow.completed",
            payload: JSON.stringify({ id: `evt_backlog_${i + j}`, data: { execution_id: `exe_${(i + j) % 7}` } }),
            created_at: now,
          })),
        );
      }
      // Two runs: the second retries what the first failed (for a batch, the batch already formed).
      const queries = await traced(h, async (q, exec) => {
        await q.alarm();
        exec("UPDATE queue SET next_at = 0");
        await q.alarm();
      });
      // Strict and batch send only the head, which fails; key (seven keys) and none are held to the rate limit.
      const requests = await h.r.received();
      expect(requests).toHaveLength(ordering === "strict" ? 2 : 3);
      if (mode === "batch") expect(JSON.parse(requests[1].body).data.events).toHaveLength(50);
      expect(queries.length).toBeGreaterThan(0);
      for (const q of queries) {
        expect(q.rows, q.query).toBeLessThanOrEqual(500);
        // No statement walks the whole queue table: each finds its rows through an index, or reads the table in
        // sequence order and stops at its LIMIT (the strict line's head is its lowest unsent sequence) — the bound
        // on rows read above holds either way.
        const stopsAtLimit = /LIMIT (\d+|\?)\)?(\s+RETURNING [\w*, ]+)?$/.test(q.query.replace(/\s+/g, " ").trim());
        for (const line of q.plan) if (!stopsAtLimit) expect(line, q.query).not.toMatch(/^SCAN (q|queue)$/);
      }
    },
  );

  test("a delivered row leaves the queue once its log is in D1; a redelivery goes out again under its first sequence number", async () => {
    const h = await hook();
    const ev = await h.send(run("exe_A", 1));
    await h.send(run("exe_A", 2));
    await runDurableObjectAlarm(h.stub);
    // Both rows stay, done, as spares for the next inserts; the highest holds the numbering.
    expect(await sql(h, "SELECT seq FROM queue")).toEqual([{ seq: 1 }, { seq: 2 }]);
    expect(await h.stub.status()).toMatchObject({ outbox: 0, queued: 0, spares: [1, 2], placeholder: 2 });
    const d = await deliveryOf(h, ev.id);
    expect(d.status).toBe("delivered");
    await expectJson(call("POST", `/v1/deliveries/${d.id}/retry`, { token: h.key }), 202);
    await runDurableObjectAlarm(h.stub);
    const [first, , again] = await h.r.received();
    expect(again.body).toBe(first.body);
    expect(again.headers["x-broxiai-attempt"]).toBe("2");
    expect(again.headers["x-broxiai-sequence"]).toBe(first.headers["x-broxiai-sequence"]);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });
});

describe("numbering without a counter: spares", () => {
  const sequences = async (h: Hook) => (await h.r.received()).map((r) => Number(r.headers["x-broxiai-sequence"]));

  test("the numbering goes on across an empty queue and a wake-up; spares, settled against D1, are not sent again", async () => {
    const h = await hook();
    await h.send();
    await h.send();
    await runDurableObjectAlarm(h.stub);
    const [first] = await sequences(h);
    expect(await h.stub.status()).toMatchObject({ queued: 0, spares: [first, first + 1], placeholder: first + 1 });
    await evictDurableObject(h.stub);
    await h.send();
    await runDurableObjectAlarm(h.stub);
    expect(await sequences(h)).toEqual([first, first + 1, first + 2]);
    // The hand-off came before the run that settles the rows, so it was a new row; all three are spares now.
    expect(await sql(h, "SELECT seq FROM queue")).toEqual([{ seq: first }, { seq: first + 1 }, { seq: first + 2 }]);
    expect(await h.stub.status()).toMatchObject({ queued: 0, spares: [first, first + 1, first + 2], placeholder: first + 2 });
    // The next one takes over the lowest.
    await h.send();
    await runDurableObjectAlarm(h.stub);
    expect(await sequences(h)).toEqual([first, first + 1, first + 2, first + 3]);
    expect(await sql(h, "SELECT seq FROM queue")).toEqual([{ seq: first + 1 }, { seq: first + 2 }, { seq: first + 3 }]);
  });

  test("after a wake-up, rows are settled from the lowest: done ones become spares, the first pending one and all after it are sent", async () => {
    const h = await hook({}, { answers: [{ status: 200 }, { status: 200 }, { status: 500 }], otherwise: { status: 200 } });
    for (let i = 1; i <= 5; i++) await h.send(run("exe_A", i));
    await runDurableObjectAlarm(h.stub);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_A#2/1", "exe_A#3/1"]);
    await evictDurableObject(h.stub);
    await runDue(h);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_A#2/1", "exe_A#3/1", "exe_A#3/2", "exe_A#4/1", "exe_A#5/1"]);
    expect(await h.stub.status()).toMatchObject({ queued: 0, spares: [1, 2, 3, 4, 5] });
    expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(Array(5).fill("delivered"));
  });

  test("after a wake-up, a highest row that D1 shows pending is a delivery to make, and is made", async () => {
    const h = await hook();
    await h.send();
    await evictDurableObject(h.stub);
    await runDurableObjectAlarm(h.stub);
    expect(await sequences(h)).toHaveLength(1);
    expect(await h.stub.status()).toMatchObject({ queued: 0, placeholder: (await sequences(h))[0] });
  });

  test("when D1 cannot answer after a wake-up, unsure rows are sent again (at least once), never dropped", async () => {
    const h = await hook();
    const before = await h.send();
    const ev = await h.send();
    await runDurableObjectAlarm(h.stub);
    await evictDurableObject(h.stub);
    await runInDurableObject(h.stub, (instance: WebhookQueue) => {
      const withEnv = instance as unknown as { env: typeof env };
      const db = withEnv.env.DB;
      const refusing = new Proxy(db, {
        get: (t, k) => {
          const down = async () => Promise.reject(new Error("D1 is down"));
          if (k === "prepare") return () => ({ bind: () => ({ all: down }) });
          return k === "batch" ? down : Reflect.get(t, k);
        },
      });
      withEnv.env = { ...withEnv.env, DB: refusing };
    });
    // What wakes a quiet queue (the cron sweeper) finds the row due: the run cannot settle it, so sends it.
    await h.stub.sweep();
    await runDurableObjectAlarm(h.stub);
    const got = await h.r.received();
    expect(got.map((r) => r.headers["webhook-id"])).toEqual([before.id, ev.id, before.id, ev.id]);
    expect(got.slice(2).map((r) => r.headers["x-broxiai-sequence"])).toEqual(got.slice(0, 2).map((r) => r.headers["x-broxiai-sequence"]));
  });

  test("redelivering the latest delivery (the placeholder's) sends it under its first number; the next event takes the one after", async () => {
    const h = await hook();
    const ev = await h.send();
    await runDurableObjectAlarm(h.stub);
    const d = await deliveryOf(h, ev.id);
    await expectJson(call("POST", `/v1/deliveries/${d.id}/retry`, { token: h.key }), 202);
    await runDurableObjectAlarm(h.stub);
    await h.send();
    await runDurableObjectAlarm(h.stub);
    const got = await h.r.received();
    const [first] = await sequences(h);
    expect(await sequences(h)).toEqual([first, first, first + 1]);
    expect(got.map((r) => r.headers["x-broxiai-attempt"])).toEqual(["1", "2", "1"]);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });

  test.each([
    { load: "light load", perRun: 1 },
    { load: "load", perRun: 10 },
  ])("a delivery at $load writes one row to the queue's storage: it takes over a spare", async ({ perRun }) => {
    const h = await hook();
    await h.send();
    await runDurableObjectAlarm(h.stub);
    const cfg = JSON.parse((await sql<{ value: string }>(h, "SELECT value FROM meta WHERE key = 'config'"))[0].value);
    let n = 0;
    const queries = await traced(h, async (q) => {
      for (let run = 0; run < 3; run++) {
        const items = Array.from({ length: perRun }, (): QueueItem => {
          const id = `evt_${perRun}_${n++}`;
          return { delivery_id: `dlv_${id}`, event_id: id, event_type: "workflow.completed", payload: `{"id":"${id}"}`, created_at: Date.now(), fresh: true };
        });
        await q.enqueue(cfg, items);
        await q.alarm();
      }
    });
    const written: Record<string, number> = {};
    for (const { query, written: n } of queries) {
      const key = query.split(" ").slice(0, 3).join(" ");
      written[key] = (written[key] ?? 0) + n;
    }
    expect(await h.r.received()).toHaveLength(1 + n);
    // Per delivery one row: an insert while there are too few spares, the update of a spare after; nothing else (no
    // delete, no counter, no state flags).
    expect(Object.values(written).reduce((a, b) => a + b, 0)).toBe(n);
    expect((written["INSERT INTO queue"] ?? 0) + (written["UPDATE queue SET"] ?? 0)).toBe(n);
    expect(written["UPDATE queue SET"]).toBeGreaterThanOrEqual(perRun === 1 ? 3 : 20);
  });

  test("a done row above a row still to send is deleted, not kept: spares stay below every pending row", async () => {
    // Key ordering: exe_A's head fails and holds its line while exe_B's rows are delivered above it.
    const h = await hook({ ordering: "key", ordering_key: "data.execution_id" }, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    for (const [key, i] of [
      ["exe_A", 1],
      ["exe_B", 2],
      ["exe_A", 3],
      ["exe_B", 4],
      ["exe_B", 5],
    ] as const)
      await h.send(run(key, i));
    await runDurableObjectAlarm(h.stub);
    expect(await seen(h)).toEqual(["exe_A#1/1", "exe_B#2/1", "exe_B#4/1", "exe_B#5/1"]);
    // exe_B's rows 2 and 4 went; 5, the highest, stays for the numbering.
    expect(await sql(h, "SELECT seq FROM queue ORDER BY seq")).toEqual([{ seq: 1 }, { seq: 3 }, { seq: 5 }]);
    expect(await h.stub.status()).toMatchObject({ queued: 2, spares: [5], placeholder: 5 });
    await runDue(h);
    expect(await h.stub.status()).toMatchObject({ queued: 0, spares: [1, 3, 5] });
  });

  test("at most MAX_SPARES (500) done rows are kept after a backlog drains; the rest are deleted, the lowest first", async () => {
    const h = await hook();
    await h.send();
    const cfg = JSON.parse((await sql<{ value: string }>(h, "SELECT value FROM meta WHERE key = 'config'"))[0].value);
    const items = Array.from({ length: 519 }, (_, i): QueueItem => {
      const id = `evt_drain_${String(i).padStart(3, "0")}`;
      return { delivery_id: `dlv_${id}`, event_id: id, event_type: "workflow.completed", payload: `{"id":"${id}"}`, created_at: Date.now(), fresh: true };
    });
    await h.stub.enqueue(cfg, items);
    await runDue(h);
    expect(await h.r.received()).toHaveLength(520);
    const { spares, queued } = await h.stub.status();
    expect(queued).toBe(0);
    expect(spares).toEqual(Array.from({ length: 500 }, (_, i) => 21 + i));
    expect(await sql(h, "SELECT count(*) AS n FROM queue")).toEqual([{ n: 500 }]);
  });

  test("with 220 spares below the line, a statement looking for rows to send starts above them instead of reading them", async () => {
    const h = await hook();
    await h.send();
    const cfg = JSON.parse((await sql<{ value: string }>(h, "SELECT value FROM meta WHERE key = 'config'"))[0].value);
    const item = (i: number): QueueItem => {
      const id = `evt_floor_${String(i).padStart(3, "0")}`;
      return { delivery_id: `dlv_${id}`, event_id: id, event_type: "workflow.completed", payload: `{"id":"${id}"}`, created_at: Date.now(), fresh: true };
    };
    await h.stub.enqueue(
      cfg,
      Array.from({ length: 219 }, (_, i) => item(i)),
    );
    await runDue(h);
    expect((await h.stub.status()).spares).toHaveLength(220);
    const queries = await traced(h, async (q) => {
      await q.enqueue(cfg, [item(999)]);
      await q.alarm();
    });
    expect(await h.r.received()).toHaveLength(221);
    const looking = queries.filter((q) => q.query.startsWith("SELECT * FROM queue WHERE seq > ?"));
    expect(looking.length).toBeGreaterThan(0);
    for (const q of looking) expect(q.read, q.query).toBeLessThan(20);
  });

  test("a redelivery under an old number below spares deletes the spares above it, so a wake-up still finds them all", async () => {
    const h = await hook();
    const ev = await h.send(run("exe_A", 1));
    for (let i = 2; i <= 4; i++) await h.send(run("exe_A", i));
    await runDurableObjectAlarm(h.stub);
    // Rows 1–4 are spares; the next event takes over row 1 as 5, so redelivering event 1 brings back number 1 below 2–4.
    await h.send(run("exe_A", 5));
    await runDurableObjectAlarm(h.stub);
    expect(await h.stub.status()).toMatchObject({ spares: [2, 3, 4, 5] });
    const d = await deliveryOf(h, ev.id);
    await expectJson(call("POST", `/v1/deliveries/${d.id}/retry`, { token: h.key }), 202);
    expect(await h.stub.status()).toMatchObject({ queued: 1, spares: [5] });
    expect(await sql(h, "SELECT seq FROM queue ORDER BY seq")).toEqual([{ seq: 1 }, { seq: 5 }]);
    await runDurableObjectAlarm(h.stub);
    expect((await h.r.received()).at(-1)?.headers["x-broxiai-sequence"]).toBe("1");
  });
});

/** Runs the webhook's queue as production does (a hand-off that finds it idle sends at once), recording its D1 SQL. */
async function production(h: Hook): Promise<string[]> {
  const statements: string[] = [];
  await runInDurableObject(h.stub, (instance: WebhookQueue) => {
    const withEnv = instance as unknown as { env: typeof env };
    const db = withEnv.env.DB;
    const recording = new Proxy(db, {
      get: (t, k) =>
        k === "prepare"
          ? (sql: string) => {
              statements.push(sql.replace(/\s+/g, " ").trim());
              return t.prepare(sql);
            }
          : Reflect.get(t, k),
    });
    withEnv.env = { ...withEnv.env, DB: recording, ALARM_MIN_DELAY_MS: "0" };
  });
  return statements;
}

/** An event stored at `at` (ms) listing one hand-off to the webhook that never reached its queue, as ingest leaves one. */
async function storedWithLostHandoff(h: Hook, at: number) {
  const eventId = `evt_lost_${crypto.randomUUID()}`;
  const deliveryId = newId("dlv", at);
  const data = run("exe_A", 1);
  await env.DB.prepare(
    "INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at, handoffs) VALUES (?, ?, 'workflow.completed', ?, ?, 1, ?, ?)",
  )
    .bind(eventId, h.accountId, new Date(at).toISOString(), JSON.stringify(data), at, JSON.stringify([[h.wh.id, deliveryId]]))
    .run();
  return { eventId, deliveryId, data };
}

describe("D1 hears of a delivery at its outcome, or as soon as it waits", () => {
  const pendingWrites = (statements: string[]) => statements.filter((s) => /^INSERT INTO deliveries .* DO NOTHING$/.test(s));

  test("a delivery sent at once reaches D1 first with its outcome: one row, never written pending", async () => {
    const h = await hook();
    const statements = await production(h);
    const ev = await h.send();
    await vi.waitFor(async () => expect((await deliveryOf(h, ev.id)).status).toBe("delivered"), { timeout: 5000 });
    expect(await h.r.received()).toHaveLength(1);
    expect(pendingWrites(statements)).toEqual([]);
    expect(statements.filter((s) => /^INSERT INTO deliveries\b/.test(s))).toHaveLength(1);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ attempt_count: 1, event_type: "workflow.completed", attempts: [{ number: 1 }] });
  });

  test("a delivery waiting behind a failing head is written pending when the run that cannot send it ends", async () => {
    const h = await hook({}, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    const statements = await production(h);
    const first = await h.send(run("exe_A", 1));
    await vi.waitFor(async () => expect((await deliveryOf(h, first.id)).attempt_count).toBe(1), { timeout: 5000 });
    const second = await h.send(run("exe_A", 2));
    await vi.waitFor(async () => expect((await deliveryOf(h, second.id)).status).toBe("pending"), { timeout: 5000 });
    expect(await deliveryOf(h, second.id)).toMatchObject({ attempt_count: 0, attempts: [] });
    expect(pendingWrites(statements)).toHaveLength(1);
    expect(await h.r.received()).toHaveLength(1);
  });

  test("deleting the webhook writes the deliveries D1 has not heard of yet as cancelled", async () => {
    const h = await hook({}, { otherwise: { status: 200, delay_ms: 1500 } });
    const statements = await production(h);
    const first = await h.send(run("exe_A", 1));
    // The first is in flight to a slow receiver; the second waits behind it, not yet in D1.
    const second = await h.send(run("exe_A", 2));
    expect(pendingWrites(statements)).toEqual([]);
    expect((await deliveriesOf(h)).map((d) => d.event_id)).toEqual([]);
    expect((await call("DELETE", `/v1/webhooks/${h.wh.id}`, { token: h.key })).status).toBe(204);
    await vi.waitFor(
      async () => {
        const rows = (
          await env.DB.prepare("SELECT event_id, status FROM deliveries WHERE webhook_id = ? ORDER BY id")
            .bind(h.wh.id)
            .all<{ event_id: string; status: string }>()
        ).results;
        expect(rows).toEqual([
          { event_id: first.id, status: "delivered" },
          { event_id: second.id, status: "cancelled" },
        ]);
      },
      { timeout: 5000 },
    );
    expect(await h.r.received()).toHaveLength(1);
  });

  test("a hand-off that never reached its queue is found by the cron sweep from the event's list, and delivered", async () => {
    const h = await hook();
    const now = Date.now();
    const { eventId, deliveryId } = await storedWithLostHandoff(h, now - 5 * 60_000);
    await runMaintenance(env, now);
    expect((await h.stub.status()).queued).toBe(1);
    await runDurableObjectAlarm(h.stub);
    const got = await h.r.received();
    expect(got.map((r) => r.headers["webhook-id"])).toEqual([eventId]);
    expect(await deliveryOf(h, eventId)).toMatchObject({ id: deliveryId, status: "delivered" });
    // The next run reads on from where this one stopped, and D1 has the row now: nothing is handed again.
    await runMaintenance(env, now + 60_000);
    expect((await h.stub.status()).queued).toBe(0);
    expect(await h.r.received()).toHaveLength(1);
  });
});

describe("the backstop alarm of a run started by a hand-off", () => {
  test("a run that keeps up sets none, however long a stream keeps it going", async () => {
    const h = await hook({}, { otherwise: { status: 200, delay_ms: 300 } });
    await production(h);
    const started = Date.now();
    // Each event is handed over while the one before is in flight, so one run sends them all, each at once.
    for (let n = 1; n <= 10; n++) {
      await h.send(run("exe_A", n));
      await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(n), { timeout: 5000, interval: 20 });
      expect((await h.stub.status()).alarm, `no alarm while event ${n} is in flight`).toBeNull();
    }
    expect(Date.now() - started, "the run lasted longer than the 2 s after which a backlog sets one").toBeGreaterThan(2500);
    await vi.waitFor(async () => expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(Array(10).fill("delivered")), { timeout: 5000 });
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
    await production(h);
    await h.send(run("exe_A", 1));
    await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(1), { timeout: 5000, interval: 20 });
    // The second waits behind the slow first for 2.5 s: when it goes out, the queue is behind.
    await h.send(run("exe_A", 2));
    expect((await h.stub.status()).alarm).toBeNull();
    await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(2), { timeout: 5000, interval: 20 });
    const alarm = (await h.stub.status()).alarm;
    expect(alarm).not.toBeNull();
    expect(alarm! - Date.now()).toBeGreaterThan(25_000);
    expect(alarm! - Date.now()).toBeLessThanOrEqual(30_000);
    await vi.waitFor(async () => expect((await deliveriesOf(h)).map((d) => d.status)).toEqual(["delivered", "delivered"]), { timeout: 5000 });
    await vi.waitFor(async () => expect((await h.stub.status()).alarm).toBeNull(), { timeout: 2000 });
  });

  test("rows handed over again long after they were due (a repeated ingest, the sweep) set one before they go out", async () => {
    const h = await hook({}, { otherwise: { status: 200, delay_ms: 1500 } });
    await production(h);
    // An event stored 5 minutes ago whose hand-off never reached the queue; the platform sends it again.
    const { eventId, data } = await storedWithLostHandoff(h, Date.now() - 5 * 60_000);
    await expectJson(sendEvent({ id: eventId, type: "workflow.completed", account_id: h.accountId, data }), 200);
    await vi.waitFor(async () => expect(await h.r.received()).toHaveLength(1), { timeout: 5000, interval: 20 });
    expect((await h.stub.status()).alarm).not.toBeNull();
    await vi.waitFor(async () => expect((await deliveryOf(h, eventId)).status).toBe("delivered"), { timeout: 5000 });
    await vi.waitFor(async () => expect((await h.stub.status()).alarm).toBeNull(), { timeout: 2000 });
  });
});
