import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import type { Env } from "../src/config";
import { runMaintenance } from "../src/cron";
import { type AttemptLog, type LogStatement, logStatements } from "../src/delivery/log";
import type { Outcome } from "../src/delivery/retry";
import { idAtTime, newId } from "../src/ids";
import worker from "../src/index";
import { ingest } from "../src/ingest";
import { call, completed, expectJson } from "./support/api";
import { deliveryOf, type Hook, hook, runDue, settle, settleAll } from "./support/delivery";
import { shardOf, withLogDb } from "./support/shards";

// What the delivery log costs D1 (every index entry a statement touches is a row written, meta.rows_written) and
// that every statement the code sends to the log tables finds its rows through an index.

/** One statement as the code sent it to D1, and the rows D1 says it wrote (null when it could not tell). */
interface Seen {
  sql: string;
  args: unknown[];
  rowsWritten: number | null;
}

const TARGET = Symbol("target");

/** A D1 binding that runs everything on the real one and records each statement with its meta.rows_written. */
function recordingDb(db: D1Database, seen: Seen[]): D1Database {
  const statement = (stmt: D1PreparedStatement, sql: string, args: unknown[]): D1PreparedStatement =>
    new Proxy(stmt, {
      get(t, k) {
        if (k === TARGET) return { stmt: t, sql, args };
        if (k === "bind") return (...a: unknown[]) => statement(t.bind(...a), sql, a);
        if (k === "run" || k === "all") {
          return async () => {
            const r = await t.all();
            seen.push({ sql, args, rowsWritten: r.meta.rows_written ?? null });
            return r;
          };
        }
        if (k === "first") {
          // first() hides meta; all() runs the same statement and shows it.
          return async (column?: string) => {
            const r = await t.all<Record<string, unknown>>();
            seen.push({ sql, args, rowsWritten: r.meta.rows_written ?? null });
            const row = r.results[0] ?? null;
            return column === undefined ? row : (row?.[column] ?? null);
          };
        }
        if (k === "raw") {
          return async (...a: unknown[]) => {
            seen.push({ sql, args, rowsWritten: null });
            return (t.raw as (...x: unknown[]) => unknown)(...a);
          };
        }
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  return new Proxy(db, {
    get(t, k) {
      if (k === "prepare") return (sql: string) => statement(t.prepare(sql), sql, []);
      if (k === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const inner = statements.map((s) => (s as unknown as { [TARGET]: { stmt: D1PreparedStatement; sql: string; args: unknown[] } })[TARGET]);
          const results = await t.batch(inner.map((s) => s.stmt));
          for (const [i, r] of results.entries()) seen.push({ sql: inner[i].sql, args: inner[i].args, rowsWritten: r.meta.rows_written ?? null });
          return results;
        };
      }
      const v = Reflect.get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

/** The env with every database recorded: the main one and each log shard. */
function recordingEnv(seen: Seen[]): Env {
  return { ...env, DB: recordingDb(env.DB, seen), LOG_DB_1: recordingDb(env.LOG_DB_1!, seen) };
}

/** Runs log statements as the queue's outbox flush does (one batch, on the account's log), returning the rows each wrote. */
async function runLog(log: D1Database, statements: LogStatement[]): Promise<number[]> {
  const results = await log.batch(statements.map((s) => log.prepare(s.sql).bind(...s.params)));
  return results.map((r) => r.meta.rows_written);
}

function attemptLog(overrides: Partial<AttemptLog> = {}): AttemptLog {
  return {
    number: 1,
    startedAt: Date.now(),
    durationMs: 42,
    statusCode: 201,
    error: null,
    requestHeaders: { "content-type": "application/json", "webhook-id": "evt_x", "x-broxiai-attempt": "1" },
    requestBody: '{"id":"evt_x"}',
    responseHeaders: { "content-type": "text/plain" },
    responseBody: "thanks",
    ...overrides,
  };
}

const sum = (xs: (number | null)[]) => xs.reduce<number>((a, b) => a + (b ?? 0), 0);
const one = (seen: Seen[], pattern: RegExp) => {
  const hits = seen.filter((s) => pattern.test(s.sql));
  expect(hits, String(pattern)).toHaveLength(1);
  return hits[0].rowsWritten;
};

async function deliveryIdOf(h: Hook, eventId: string): Promise<{ id: string; created_at: number }> {
  await settleAll();
  return (await h.log.prepare("SELECT id, created_at FROM deliveries WHERE event_id = ?").bind(eventId).first<{ id: string; created_at: number }>())!;
}

const attemptRows = async (h: Hook, deliveryId: string) =>
  (await h.log.prepare("SELECT number, status_code FROM attempts WHERE delivery_id = ? ORDER BY number").bind(deliveryId).all()).results;

describe("rows written per delivered event", () => {
  test("ingest writes 2 rows (the event and its index) and no delivery; a delivered first attempt creates the delivery's row: 1 row", async () => {
    const h = await hook();
    const seen: Seen[] = [];
    const [result] = await ingest(recordingEnv(seen), [{ type: "workflow.completed", account_id: h.accountId, data: completed(1) }]);
    expect(result).toMatchObject({ status: 202, body: { deliveries: 1 } });
    const eventRows = one(seen, /^INSERT INTO events\b/);
    console.log(`rows written: INSERT INTO events ${eventRows}`);
    expect(eventRows).toBeLessThanOrEqual(2);
    // The delivery's row is its queue's to write: ingest writes none.
    expect(seen.filter((s) => /^\s*(INSERT INTO|UPDATE|DELETE FROM) deliveries\b/.test(s.sql)).map((s) => s.sql)).toEqual([]);
    // Reads write nothing.
    expect(sum(seen.filter((s) => /^SELECT/.test(s.sql)).map((s) => s.rowsWritten))).toBe(0);

    if (!("body" in result)) throw new Error("not accepted");
    // The delivery, sent at once, reached D1 first with its outcome: that row is taken away here to measure that write.
    const delivery = await deliveryIdOf(h, result.body.id);
    const removed = await h.log.prepare("DELETE FROM deliveries WHERE webhook_id = ? AND id = ?").bind(h.wh.id, delivery.id).run();
    expect(removed.meta.changes).toBe(1);
    const attempt = attemptLog();
    const statements = logStatements({
      webhookId: h.wh.id,
      accountId: h.accountId,
      deliveries: [{ delivery_id: delivery.id, event_id: result.body.id, event_type: "workflow.completed", created_at: delivery.created_at }],
      attempt,
      outcome: { kind: "delivered" },
    });
    expect(statements).toHaveLength(1);
    expect(statements[0].sql).toMatch(/^INSERT INTO deliveries\b/);
    const logRows = await runLog(h.log, statements);
    console.log(`rows written: delivered first attempt (INSERT INTO deliveries … ON CONFLICT) ${logRows.join(" + ")}`);
    expect(sum(logRows)).toBe(1);
    // With the queue's one row, 4 in all.
    expect(sum([eventRows, ...logRows])).toBeLessThanOrEqual(3);
    expect(await attemptRows(h, delivery.id)).toEqual([]);

    const expected = {
      status: "delivered",
      attempt_count: 1,
      last_status_code: 201,
      last_error: null,
      attempts: [
        {
          number: 1,
          started_at: new Date(attempt.startedAt).toISOString(),
          duration_ms: 42,
          status_code: 201,
          error: null,
          request_headers: attempt.requestHeaders,
          request_body: attempt.requestBody,
          response_headers: attempt.responseHeaders,
          response_body: "thanks",
        },
      ],
    };
    expect(await expectJson(call("GET", `/v1/deliveries/${delivery.id}`, { token: h.key }), 200)).toMatchObject(expected);
    // Replayed (an outbox written twice), it changes nothing.
    await runLog(h.log, statements);
    expect(await expectJson(call("GET", `/v1/deliveries/${delivery.id}`, { token: h.key }), 200)).toMatchObject(expected);
  });

  test("a failed first attempt is an attempts row, and the delivery shows it", async () => {
    const h = await hook({}, { answers: [{ status: 500, body: "down" }] });
    const ev = await h.send();
    const delivery = await deliveryIdOf(h, ev.id);
    const [req] = await h.r.received();
    expect(await attemptRows(h, delivery.id)).toEqual([{ number: 1, status_code: 500 }]);
    const shown = await expectJson(call("GET", `/v1/deliveries/${delivery.id}`, { token: h.key }), 200);
    expect(shown).toMatchObject({ status: "pending", attempt_count: 1, last_status_code: 500, last_error: "HTTP 500" });
    expect(shown.attempts).toEqual([
      {
        number: 1,
        started_at: expect.any(String),
        duration_ms: expect.any(Number),
        status_code: 500,
        error: "HTTP 500",
        request_headers: expect.objectContaining({ "webhook-signature": req.headers["webhook-signature"] }),
        request_body: req.body,
        response_headers: expect.any(Object),
        response_body: "down",
      },
    ]);
  });

  test("through the queue: a first success is kept in the delivery row, a retry's attempts in attempts rows, both shown in order", async () => {
    const h = await hook(
      {},
      {
        answers: [
          { status: 201, body: "first" },
          { status: 500, body: "down" },
        ],
        otherwise: { status: 200, body: "ok" },
      },
    );
    const ok = await h.send();
    const retried = await h.send();
    await runDue(h);
    const [req1, req2, req3] = await h.r.received();

    const first = await deliveryOf(h, ok.id);
    expect(first).toMatchObject({ status: "delivered", attempt_count: 1, last_status_code: 201 });
    expect(first.attempts).toHaveLength(1);
    expect(first.attempts[0]).toMatchObject({ number: 1, status_code: 201, error: null, request_body: req1.body, response_body: "first" });
    expect(first.attempts[0].request_headers["webhook-signature"]).toBe(req1.headers["webhook-signature"]);
    expect(await attemptRows(h, first.id)).toEqual([]);

    const second = await deliveryOf(h, retried.id);
    expect(second).toMatchObject({ status: "delivered", attempt_count: 2, last_status_code: 200 });
    expect(second.attempts.map((a: any) => [a.number, a.status_code, a.response_body, a.request_body])).toEqual([
      [1, 500, "down", req2.body],
      [2, 200, "ok", req3.body],
    ]);
    expect(await attemptRows(h, second.id)).toEqual([
      { number: 1, status_code: 500 },
      { number: 2, status_code: 200 },
    ]);

    // A redelivery of the first one continues its numbering: attempt 1 from the row, attempt 2 from attempts.
    await expectJson(call("POST", `/v1/deliveries/${first.id}/retry`, { token: h.key }), 202);
    await settle(h);
    const again = await deliveryOf(h, ok.id);
    expect(again).toMatchObject({ status: "delivered", attempt_count: 2, last_status_code: 200 });
    expect(again.attempts.map((a: any) => [a.number, a.status_code, a.response_body])).toEqual([
      [1, 201, "first"],
      [2, 200, "ok"],
    ]);
  });
});

describe("without UNIQUE (webhook_id, event_id)", () => {
  test("two ingests of one id at once store one event and one delivery per webhook: the events key refuses the second", async () => {
    const h = await hook();
    const id = `evt_race_${h.wh.id}`;
    const event = { id, type: "workflow.completed", account_id: h.accountId, data: completed(3) };
    // Counts the event inserts that reach D1: more than one means the race really happened (each ingest looked
    // the id up before any stored it).
    const tried: string[] = [];
    const db = new Proxy(h.log, {
      get(t, k) {
        if (k === "prepare") {
          return (sql: string) => {
            tried.push(sql);
            return t.prepare(sql);
          };
        }
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    const racing = withLogDb(await shardOf(h.accountId), db);
    const answers = (await Promise.all([ingest(racing, [event]), ingest(racing, [event]), ingest(racing, [event])])).map(([r]) => r);
    expect(tried.filter((sql) => /^INSERT INTO events\b/.test(sql)).length).toBeGreaterThan(1);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 202]);
    for (const r of answers) expect(r).toMatchObject({ body: { id, deliveries: 1 } });
    await settleAll();
    const rows = await h.log.prepare("SELECT webhook_id FROM deliveries WHERE event_id = ?").bind(id).all();
    expect(rows.results).toEqual([{ webhook_id: h.wh.id }]);
  });
});

/** The plan lines of one statement, with the arguments it ran with. */
async function planOf(s: Seen): Promise<string[]> {
  const r = await env.DB.prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
    .bind(...s.args)
    .all<{ detail: string }>();
  return r.results.map((x) => x.detail);
}

const LOG_TABLES = /\b(events|deliveries|attempts)\b/;
/** A full scan without an index of a log table (or of the aliases the code gives them). */
const FULL_SCAN = /^SCAN (events|deliveries|attempts|e|d)( AS \w+)?$/;

describe("every statement on events, deliveries and attempts finds its rows through an index", () => {
  test("lists, lookups, stats, replay, ingest, the purge and the sweep", async () => {
    // The webhook read is on the second shard and another on the main database, so both forms of a broadcast's copies run.
    const h = await hook({}, { answers: [{ status: 200 }, { status: 500 }] }, { shard: 1 });
    const doomed = await hook({}, {}, { shard: 0 });
    const e1 = await h.send();
    const e2 = await h.send(completed(7), "workflow.started");
    await h.send();
    await doomed.send();

    const seen: Seen[] = [];
    const recEnv = recordingEnv(seen);
    const app = async (method: string, path: string, token: string, body?: unknown) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`https://webhooks.test${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
        recEnv,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };

    const list = await expectJson(app("GET", `/v1/webhooks/${h.wh.id}/deliveries?limit=1`, h.key), 200);
    await expectJson(app("GET", `/v1/webhooks/${h.wh.id}/deliveries?cursor=${list.next_cursor}`, h.key), 200);
    for (const status of ["pending", "delivered", "failed", "cancelled", "expired"]) {
      await expectJson(app("GET", `/v1/webhooks/${h.wh.id}/deliveries?status=${status}&event_type=workflow.started`, h.key), 200);
    }
    await expectJson(app("GET", `/v1/webhooks/${h.wh.id}/stats?window=7d`, h.key), 200);
    await expectJson(app("GET", `/v1/deliveries/${list.data[0].id}`, h.key), 200);
    await expectJson(app("POST", `/v1/webhooks/${h.wh.id}/replay`, h.key, { since: new Date(Date.now() - 3_600_000).toISOString() }), 202);
    await expectJson(app("POST", `/v1/webhooks/${h.wh.id}/replay`, h.key, { since: "2020-01-01T00:00:00Z", status: "delivered" }), 202);
    const events = await expectJson(app("GET", "/v1/events?limit=1&type=workflow.completed", h.key), 200);
    await expectJson(app("GET", `/v1/events?cursor=${encodeURIComponent(events.next_cursor)}`, h.key), 200);
    await expectJson(app("GET", `/v1/events/${e2.id}`, h.key), 200);
    await expectJson(app("GET", `/v1/deliveries?event_id=${e2.id}`, h.key), 200);
    // Ingest, a repeated ingest (its pending deliveries re-handed), a broadcast.
    await expectJson(app("POST", "/v1/events", env.PLATFORM_TOKEN, { type: "workflow.completed", account_id: h.accountId, data: completed(9) }), 202);
    await expectJson(
      app("POST", "/v1/events", env.PLATFORM_TOKEN, { id: e1.id, type: "workflow.completed", account_id: h.accountId, data: completed(1) }),
      200,
    );
    const maintenance = { type: "system.maintenance", data: { window: { starts_at: "2026-11-27T09:00:00Z", ends_at: "2026-11-27T10:00:00Z" }, message: "m" } };
    const broadcast = await expectJson(app("POST", "/v1/events", env.PLATFORM_TOKEN, maintenance), 202);
    await expectJson(app("POST", "/v1/events", env.PLATFORM_TOKEN, { ...maintenance, id: broadcast.id }), 200);
    expect((await app("DELETE", `/v1/webhooks/${doomed.wh.id}`, doomed.key)).status).toBe(204);
    // The cron trigger: purge and sweep, with everything past retention and every pending delivery overdue.
    await runMaintenance(recEnv, Date.now() + 40 * 86_400_000);
    // The queue's log statements, as the outbox flush sends them.
    const d = list.data[0];
    for (const [attempt, outcome] of [
      [attemptLog(), { kind: "delivered" }],
      [attemptLog({ number: 2, statusCode: 500, error: "HTTP 500" }), { kind: "retry", delayMs: 1000, reason: "HTTP 500" }],
    ] as [AttemptLog, Outcome][]) {
      const statements = logStatements({
        webhookId: h.wh.id,
        accountId: h.accountId,
        deliveries: [{ delivery_id: d.id, event_id: d.event_id, event_type: d.event_type, created_at: Date.parse(d.created_at) }],
        attempt,
        outcome,
      });
      await recordingDb(h.log, seen).batch(
        statements.map((s) =>
          recordingDb(h.log, seen)
            .prepare(s.sql)
            .bind(...s.params),
        ),
      );
    }

    const statements = [...new Map(seen.filter((s) => LOG_TABLES.test(s.sql)).map((s) => [s.sql, s])).values()];
    const must = [
      /FROM deliveries WHERE webhook_id = \? ORDER BY id DESC/,
      /FROM deliveries WHERE webhook_id = \? AND id < \?/,
      /status = \? AND status <> 'delivered' AND event_type = \?/,
      /FROM deliveries WHERE webhook_id = \? AND status = \? AND event_type = \?/,
      /SELECT status, count\(\*\) AS n FROM deliveries/,
      /SELECT latency_ms FROM deliveries/,
      /FROM deliveries INDEXED BY deliveries_open WHERE webhook_id = \? AND status = \? AND status <> 'delivered'\s+AND id >= \?/,
      /FROM deliveries WHERE webhook_id = \? AND status = \?\s+AND id >= \?/,
      /FROM attempts WHERE delivery_id = \?/,
      /SELECT \* FROM events WHERE account_id = \?1/,
      /SELECT \* FROM events WHERE account_id = \? AND id = \?/,
      /SELECT \* FROM events WHERE \(account_id, id\) IN \(VALUES/,
      /SELECT \* FROM events WHERE account_id = \? AND id IN/,
      /SELECT account_id FROM events WHERE account_id IN \(.*\) AND id = \?/,
      /^INSERT INTO events .* VALUES/,
      /^INSERT INTO events .* SELECT id, .* FROM accounts/,
      /^INSERT INTO events .* SELECT value, .* FROM json_each\(\?\)/,
      /^INSERT INTO deliveries/,
      /FROM deliveries WHERE \(webhook_id, id\) IN \(VALUES/,
      /FROM logged_accounts a CROSS JOIN events e ON e.account_id = a.id\s+WHERE a.id <> ''/,
      /FROM deliveries WHERE webhook_id IN \(SELECT value FROM json_each\(\?\)\) AND id = \?/,
      /^UPDATE deliveries INDEXED BY deliveries_open SET status = 'cancelled'/,
      /^DELETE FROM attempts/,
      /^DELETE FROM deliveries/,
      /^DELETE FROM events/,
      /FROM open_webhooks w\s+WHERE w.id <> '' AND EXISTS \(SELECT 1 FROM deliveries d INDEXED BY deliveries_open WHERE d.webhook_id = w.id/,
      /FROM deliveries d INDEXED BY deliveries_open JOIN events e ON e.account_id = d.account_id AND e.id = d.event_id/,
      /^INSERT OR REPLACE INTO attempts/,
      /first_started_at = excluded.first_started_at/,
    ];
    for (const pattern of must)
      expect(
        statements.some((s) => pattern.test(s.sql)),
        `a statement matching ${pattern} ran`,
      ).toBe(true);
    for (const s of statements) {
      const plan = await planOf(s);
      for (const line of plan) expect(line, `${s.sql}\n${plan.join("\n")}`).not.toMatch(FULL_SCAN);
    }
    // The windows and lists take the indexes meant for them.
    const planFor = async (pattern: RegExp) => (await planOf(statements.find((s) => pattern.test(s.sql))!)).join("\n");
    expect(await planFor(/status = \? AND status <> 'delivered' AND event_type = \?/)).toMatch(
      /USING (COVERING )?INDEX deliveries_open \(webhook_id=\? AND status=\?/,
    );
    expect(await planFor(/SELECT status, count\(\*\) AS n FROM deliveries/)).toMatch(/USING PRIMARY KEY \(webhook_id=\? AND id>\?\)/);
    expect(await planFor(/FROM deliveries WHERE webhook_id = \? ORDER BY id DESC/)).toMatch(/USING PRIMARY KEY \(webhook_id=\?\)/);
    expect(await planFor(/FROM deliveries WHERE webhook_id IN \(SELECT value FROM json_each\(\?\)\) AND id = \?/)).toMatch(
      /USING PRIMARY KEY \(webhook_id=\? AND id=\?\)/,
    );
    expect(await planFor(/^DELETE FROM deliveries/)).toMatch(/USING PRIMARY KEY \(webhook_id=\? AND id<\?\)/);
    // A repeated ingest and the sweep of lost hand-offs look up the deliveries an event lists, by key.
    expect(await planFor(/FROM deliveries WHERE \(webhook_id, id\) IN \(VALUES/)).toMatch(/USING PRIMARY KEY \(webhook_id=\? AND id=\?\)/);
    expect(await planFor(/AND e.deliveries > 0 ORDER BY e.created_at/)).toMatch(
      /INDEX events_account_created \(account_id=\? AND created_at>\? AND created_at<\?\)/,
    );
    // Every lookup of an event goes by its key (account_id, id): the repeat check, a broadcast's check of the accounts
    // holding its id, GET /v1/events/{id}, redelivery, the sweep's join.
    for (const pattern of [
      /SELECT \* FROM events WHERE \(account_id, id\) IN \(VALUES/,
      /SELECT account_id FROM events WHERE account_id IN \(.*\) AND id = \?/,
      /SELECT \* FROM events WHERE account_id = \? AND id = \?/,
      /SELECT \* FROM events WHERE account_id = \? AND id IN/,
      /JOIN events e ON e.account_id = d.account_id AND e.id = d.event_id/,
    ]) {
      expect(await planFor(pattern), String(pattern)).toMatch(/SEARCH e(vents)? USING PRIMARY KEY \(account_id=\? AND id=\?\)/);
    }
    expect(await planFor(/^DELETE FROM events/)).toMatch(/INDEX deliveries_open \(webhook_id=\? AND status=\? AND id<\?\)/);
    expect(await planFor(/^DELETE FROM attempts/)).toMatch(/USING PRIMARY KEY \(delivery_id<\?\)/);
    expect(await planFor(/^DELETE FROM events/)).toMatch(/INDEX events_account_created \(account_id=\? AND created_at<\?\)/);
    expect(await planFor(/EXISTS \(SELECT 1 FROM deliveries d INDEXED BY deliveries_open WHERE d.webhook_id = w.id/)).toMatch(/INDEX deliveries_open/);
    // The purge and the sweeps find the webhooks and accounts a shard holds from its own keys, a seek each.
    expect(await planFor(/^DELETE FROM deliveries/)).toMatch(/SEARCH deliveries USING PRIMARY KEY \(webhook_id>\?\)/);
    expect(await planFor(/^DELETE FROM events/)).toMatch(/SEARCH events USING (COVERING )?INDEX events_account_created \(account_id>\?\)/);
    expect(await planFor(/^DELETE FROM events/)).toMatch(/SEARCH deliveries USING COVERING INDEX deliveries_open \(webhook_id>\?\)/);
  });
});

test("idAtTime is the smallest id of its millisecond", () => {
  const ms = Date.UTC(2026, 10, 27, 9);
  const ids = Array.from({ length: 50 }, () => newId("dlv", ms));
  for (const id of ids) {
    expect(id >= idAtTime("dlv", ms)).toBe(true);
    expect(id < idAtTime("dlv", ms + 1)).toBe(true);
    expect(newId("dlv", ms - 1) < idAtTime("dlv", ms)).toBe(true);
  }
  expect(idAtTime("dlv", ms)).toMatch(/^dlv_[0-9A-Z]{10}0{16}$/);
});
