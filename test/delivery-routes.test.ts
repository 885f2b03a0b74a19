import { describe, expect, test } from "vitest";
import { newId } from "../src/ids";
import { call, completed, expectJson, newAccount } from "./support/api";
import { cron, deliveryOf, type Hook, hook, settle } from "./support/delivery";
import { SHARDS } from "./support/shards";

// The delivery log's routes (list, read, retry, replay, stats) and the cron trigger (purge, sweep).

async function list(h: Hook, query = "") {
  return expectJson(call("GET", `/v1/webhooks/${h.wh.id}/deliveries${query}`, { token: h.key }), 200);
}

/** Five events in order through a strict, single-attempt webhook: delivered, failed, delivered, failed, delivered. */
async function mixed(shard?: number) {
  const h = await hook(
    { retry: { max_attempts: 1 } },
    { answers: [{ status: 200 }, { status: 500 }, { status: 200 }, { status: 404 }, { status: 200 }] },
    { shard },
  );
  const events = [
    await h.send(undefined, "workflow.completed"),
    await h.send(undefined, "workflow.started"),
    await h.send(undefined, "workflow.completed"),
    await h.send(undefined, "workflow.started"),
    await h.send(undefined, "workflow.completed"),
  ];
  return { h, events };
}

describe.each(SHARDS)("GET /v1/webhooks/{id}/deliveries (log shard %i)", (shard) => {
  test("newest first, filtered by status and event type, cursor-paged", async () => {
    const { h, events } = await mixed(shard);
    const all = await list(h);
    expect(all.next_cursor).toBeNull();
    expect(all.data.map((d: any) => d.event_id)).toEqual(events.map((e) => e.id).reverse());
    expect(all.data.map((d: any) => d.status)).toEqual(["delivered", "failed", "delivered", "failed", "delivered"]);
    for (const d of all.data) {
      expect(Object.keys(d).sort()).toEqual(
        [
          "attempt_count",
          "created_at",
          "delivered_at",
          "event_id",
          "event_type",
          "id",
          "last_error",
          "last_status_code",
          "next_attempt_at",
          "status",
          "webhook_id",
        ].sort(),
      );
      expect(d.webhook_id).toBe(h.wh.id);
      expect(d.id).toMatch(/^dlv_/);
    }

    const failed = await list(h, "?status=failed");
    expect(failed.data.map((d: any) => d.event_id)).toEqual([events[3].id, events[1].id]);
    expect(failed.data.map((d: any) => d.last_status_code)).toEqual([404, 500]);
    const started = await list(h, "?event_type=workflow.started");
    expect(started.data.map((d: any) => d.event_id)).toEqual([events[3].id, events[1].id]);
    const both = await list(h, "?event_type=workflow.completed&status=delivered");
    expect(both.data).toHaveLength(3);
    expect((await list(h, "?status=pending")).data).toEqual([]);
    expect((await call("GET", `/v1/webhooks/${h.wh.id}/deliveries?status=lost`, { token: h.key })).status).toBe(422);

    const seen: string[] = [];
    let cursor: string | null = "";
    let pages = 0;
    while (cursor !== null) {
      const page: { data: any[]; next_cursor: string | null } = await list(h, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((d) => d.id));
      cursor = page.next_cursor;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(all.data.map((d: any) => d.id));
    const pagedFailed = await list(h, "?status=failed&limit=1");
    expect(pagedFailed.data).toHaveLength(1);
    expect((await list(h, `?status=failed&limit=1&cursor=${pagedFailed.next_cursor}`)).data[0].event_id).toBe(events[1].id);
  });

  test("another account's webhook and delivery are 404", async () => {
    const { h, events } = await mixed(shard);
    const other = await newAccount("Other");
    expect((await call("GET", `/v1/webhooks/${h.wh.id}/deliveries`, { token: other.key })).status).toBe(404);
    const d = await deliveryOf(h, events[0].id);
    expect((await call("GET", `/v1/deliveries/${d.id}`, { token: other.key })).status).toBe(404);
    expect((await call("POST", `/v1/deliveries/${d.id}/retry`, { token: other.key })).status).toBe(404);
    expect((await call("POST", `/v1/webhooks/${h.wh.id}/replay`, { token: other.key, body: { since: "2020-01-01T00:00:00Z" } })).status).toBe(404);
    expect((await call("GET", `/v1/webhooks/${h.wh.id}/stats`, { token: other.key })).status).toBe(404);
  });
});

describe.each(SHARDS)("redelivery (log shard %i)", (shard) => {
  test("POST /v1/deliveries/{id}/retry: a failed delivery goes out again after the alarm, with its sequence number", async () => {
    const { h, events } = await mixed(shard);
    const failed = await deliveryOf(h, events[1].id);
    expect(failed.status).toBe("failed");
    const queued = await expectJson(call("POST", `/v1/deliveries/${failed.id}/retry`, { token: h.key }), 202);
    expect(queued).toMatchObject({ id: failed.id, status: "pending", attempt_count: 1 });
    await settle(h);
    const got = await h.r.received();
    expect(got).toHaveLength(6);
    const [original, again] = got.filter((r) => r.headers["webhook-id"] === events[1].id);
    expect(again.headers["x-broxiai-sequence"]).toBe(original.headers["x-broxiai-sequence"]);
    expect(again.headers["x-broxiai-attempt"]).toBe("2");
    expect(again.body).toBe(original.body);
    const after = await deliveryOf(h, events[1].id);
    expect(after).toMatchObject({ status: "delivered", attempt_count: 2, last_error: null });
    expect(after.attempts.map((a: any) => a.status_code)).toEqual([500, 200]);
  });

  test("retry of a pending delivery skips its backoff", async () => {
    const h = await hook({}, { answers: [{ status: 500 }] }, { shard });
    const ev = await h.send();
    const pending = await deliveryOf(h, ev.id);
    expect(Date.parse(pending.next_attempt_at)).toBeGreaterThan(Date.now() + 3000);
    await expectJson(call("POST", `/v1/deliveries/${pending.id}/retry`, { token: h.key }), 202);
    await settle(h);
    expect(await deliveryOf(h, ev.id)).toMatchObject({ status: "delivered", attempt_count: 2 });
  });

  test("POST /v1/webhooks/{id}/replay re-enqueues the failed deliveries of a time range", async () => {
    const { h, events } = await mixed(shard);
    const since = new Date(Date.now() - 60_000).toISOString();
    expect(await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/replay`, { token: h.key, body: { since, until: since } }), 422)).toMatchObject({
      status: 422,
    });
    const none = await expectJson(
      call("POST", `/v1/webhooks/${h.wh.id}/replay`, { token: h.key, body: { since: new Date(Date.now() + 60_000).toISOString() } }),
      202,
    );
    expect(none).toEqual({ replayed: 0 });
    const res = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/replay`, { token: h.key, body: { since } }), 202);
    expect(res).toEqual({ replayed: 2 });
    await settle(h);
    expect((await list(h, "?status=failed")).data).toHaveLength(0);
    const replayed = (await h.r.received()).slice(5).map((r) => r.headers["webhook-id"]);
    expect(replayed).toEqual([events[1].id, events[3].id]);
    expect((await list(h)).data.map((d: any) => d.status)).toEqual(Array(5).fill("delivered"));
  });
});

describe.each(SHARDS)("GET /v1/webhooks/{id}/stats (log shard %i)", (shard) => {
  test("counts by status, success rate and latency percentiles", async () => {
    const { h } = await mixed(shard);
    const stats = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}/stats`, { token: h.key }), 200);
    expect(stats).toMatchObject({ window: "24h", total: 5, delivered: 3, failed: 2, pending: 0, success_rate: 0.6 });
    expect(stats.latency_ms.p50).toBeGreaterThanOrEqual(0);
    expect(stats.latency_ms.p95).toBeGreaterThanOrEqual(stats.latency_ms.p50);
    expect(stats.latency_ms.p95).toBeLessThan(60_000);
    const week = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}/stats?window=7d`, { token: h.key }), 200);
    expect(week).toMatchObject({ window: "7d", total: 5 });
  });

  test("percentiles over known latencies; an empty window has no rate", async () => {
    const h = await hook({}, {}, { shard });
    const empty = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}/stats?window=1h`, { token: h.key }), 200);
    expect(empty).toMatchObject({ total: 0, success_rate: null, latency_ms: { p50: null, p95: null } });
    const now = Date.now();
    const rows = Array.from({ length: 20 }, (_, i) =>
      h.log
        .prepare(
          "INSERT INTO deliveries (id, webhook_id, account_id, event_id, event_type, status, latency_ms, created_at, updated_at) VALUES (?, ?, ?, ?, 'workflow.completed', ?, ?, ?, ?)",
        )
        .bind(`dlv_stats_${h.wh.id}_${i}`, h.wh.id, h.accountId, `evt_stats_${i}`, i < 18 ? "delivered" : "failed", (i + 1) * 100, now - 1000, now),
    );
    // One outside the window.
    rows.push(
      h.log
        .prepare(
          "INSERT INTO deliveries (id, webhook_id, account_id, event_id, event_type, status, latency_ms, created_at, updated_at) VALUES (?, ?, ?, 'evt_old', 'workflow.completed', 'failed', NULL, ?, ?)",
        )
        .bind(`dlv_stats_${h.wh.id}_old`, h.wh.id, h.accountId, now - 2 * 3_600_000, now),
    );
    await h.log.batch(rows);
    const stats = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}/stats?window=1h`, { token: h.key }), 200);
    expect(stats).toMatchObject({ total: 20, delivered: 18, failed: 2, success_rate: 0.9, latency_ms: { p50: 900, p95: 1800 } });
  });
});

describe.each(SHARDS)("the cron trigger (log shard %i)", (shard) => {
  test("purges deliveries, attempts and events past retention, keeping pending ones and recent ones", async () => {
    const h = await hook({}, {}, { shard });
    const now = Date.now();
    const old = now - 31 * 86_400_000;
    // Delivery ids carry their creation time, as ingest makes them: the purge walks them as an id range.
    const ids = {
      oldDelivered: newId("dlv", old),
      oldFailed: newId("dlv", old),
      oldPending: newId("dlv", old),
      recent: newId("dlv", now - 86_400_000),
    };
    const name = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]));
    const insert = (id: string, status: string, createdAt: number) =>
      h.log
        .prepare(
          "INSERT INTO deliveries (id, webhook_id, account_id, event_id, event_type, status, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'workflow.completed', ?, ?, ?, ?)",
        )
        .bind(id, h.wh.id, h.accountId, `evt_purge_${name[id]}`, status, status === "pending" ? now + 3_600_000 : null, createdAt, createdAt);
    const attempt = (id: string, startedAt: number, number = 1) =>
      h.log
        .prepare(
          "INSERT INTO attempts (delivery_id, number, webhook_id, started_at, duration_ms, request_headers, request_body) VALUES (?, ?, ?, ?, 5, '{}', '{}')",
        )
        .bind(id, number, h.wh.id, startedAt);
    await h.log.batch([
      insert(ids.oldDelivered, "delivered", old),
      insert(ids.oldFailed, "failed", old),
      insert(ids.oldPending, "pending", old),
      insert(ids.recent, "delivered", now - 86_400_000),
      attempt(ids.oldDelivered, old),
      attempt(ids.oldFailed, old),
      attempt(ids.recent, now - 86_400_000),
      // An old delivery retried within retention keeps that attempt.
      attempt(ids.oldPending, old),
      attempt(ids.oldPending, now - 60_000, 2),
    ]);
    const event = (id: string, createdAt: number) =>
      h.log
        .prepare(
          "INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at) VALUES (?, ?, 'workflow.completed', '2026-01-01T00:00:00Z', '{}', 1, ?)",
        )
        .bind(id, h.accountId, createdAt);
    await h.log.batch([event("evt_purge_oldDelivered", old), event("evt_purge_oldPending", old), event("evt_purge_recent", now - 86_400_000)]);
    await cron(now);
    const events = (
      await h.log.prepare("SELECT id FROM events WHERE account_id = ? AND id LIKE 'evt_purge_%' ORDER BY id").bind(h.accountId).all<{ id: string }>()
    ).results.map((r) => r.id);
    // An old event goes with its deliveries, unless one of them is still pending (a redelivery is rebuilt from it).
    expect(events).toEqual(["evt_purge_oldPending", "evt_purge_recent"]);
    const all = Object.values(ids);
    const marks = all.map(() => "?").join(",");
    const left = (
      await h.log
        .prepare(`SELECT id FROM deliveries WHERE id IN (${marks})`)
        .bind(...all)
        .all<{ id: string }>()
    ).results.map((r) => name[r.id]);
    expect(left.sort()).toEqual(["oldPending", "recent"]);
    const attempts = (
      await h.log
        .prepare(`SELECT delivery_id, number FROM attempts WHERE delivery_id IN (${marks})`)
        .bind(...all)
        .all<{ delivery_id: string; number: number }>()
    ).results;
    expect(attempts.map((r) => [name[r.delivery_id], r.number]).sort()).toEqual([
      ["oldPending", 2],
      ["recent", 1],
    ]);
  });

  test("sweeps a pending delivery whose hand-off was lost: it is handed to its queue and delivered", async () => {
    const h = await hook({}, {}, { shard });
    const now = Date.now();
    const long = now - 3_600_000;
    const eventId = `evt_lost_${h.wh.id}`;
    const data = completed(42);
    await h.log.batch([
      h.log
        .prepare("INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at) VALUES (?, ?, 'workflow.completed', ?, ?, 1, ?)")
        .bind(eventId, h.accountId, new Date(long).toISOString(), JSON.stringify(data), long),
      h.log
        .prepare(
          "INSERT INTO deliveries (id, webhook_id, account_id, event_id, event_type, status, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'workflow.completed', 'pending', ?, ?, ?)",
        )
        .bind(`dlv_lost_${h.wh.id}`, h.wh.id, h.accountId, eventId, long, long, long),
    ]);
    expect(await h.stub.status()).toMatchObject({ queued: 0, alarm: null });
    await cron(now);
    await settle(h);
    const [req] = await h.r.received();
    expect(req.headers["webhook-id"]).toBe(eventId);
    expect(JSON.parse(req.body)).toMatchObject({ id: eventId, type: "workflow.completed", account_id: h.accountId, data });
    expect(await deliveryOf(h, eventId)).toMatchObject({ status: "delivered", attempt_count: 1 });
    // A second sweep finds nothing to do.
    await cron();
    await settle(h);
    expect(await h.r.received()).toHaveLength(1);
    expect(await h.stub.status()).toMatchObject({ queued: 0, alarm: null });
  });

  test("one webhook's large held backlog does not starve another's lost hand-off", async () => {
    const stuck = await hook({}, { otherwise: { status: 500 } }, { shard });
    const lost = await hook({}, {}, { shard });
    const now = Date.now();
    const long = now - 3_600_000;
    // 2,100 deliveries of one webhook, all pending and older than the lost one (as if held behind a failing head).
    const statements = [];
    for (let chunk = 0; chunk < 21; chunk++) {
      const n = Array.from({ length: 100 }, (_, i) => chunk * 100 + i);
      statements.push(
        stuck.log.prepare(
          `INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at) VALUES ${n
            .map((i) => `('evt_held_${i}', '${stuck.accountId}', 'workflow.completed', '2026-01-01T00:00:00.000Z', '{}', 1, ${long})`)
            .join(",")}`,
        ),
        stuck.log.prepare(
          `INSERT INTO deliveries (id, webhook_id, account_id, event_id, event_type, status, next_attempt_at, created_at, updated_at) VALUES ${n
            .map(
              (i) =>
                `('dlv_0held_${String(i).padStart(5, "0")}', '${stuck.wh.id}', '${stuck.accountId}', 'evt_held_${i}', 'workflow.completed', 'pending', ${long}, ${long}, ${long})`,
            )
            .join(",")}`,
        ),
      );
    }
    await stuck.log.batch(statements);
    await lost.log.batch([
      lost.log
        .prepare("INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at) VALUES (?, ?, 'workflow.completed', ?, '{}', 1, ?)")
        .bind("evt_lost_late", lost.accountId, new Date(long).toISOString(), long),
      lost.log
        .prepare(
          "INSERT INTO deliveries (id, webhook_id, account_id, event_id, event_type, status, next_attempt_at, created_at, updated_at) VALUES ('dlv_zlost', ?, ?, 'evt_lost_late', 'workflow.completed', 'pending', ?, ?, ?)",
        )
        .bind(lost.wh.id, lost.accountId, long, long, long),
    ]);
    await cron(now);
    await settle(lost);
    await settle(stuck);
    expect(await lost.r.received()).toHaveLength(1);
    expect((await stuck.stub.status()).queued).toBeGreaterThan(0);
  });

  test("the sweep leaves deliveries that are waiting for a retry alone", async () => {
    const h = await hook({}, { answers: [{ status: 500 }] }, { shard });
    await h.send();
    const alarm = (await h.stub.status()).alarm;
    expect(alarm).not.toBeNull();
    await cron();
    expect((await h.stub.status()).alarm).toBe(alarm);
    expect(await h.r.received()).toHaveLength(1);
  });
});

test("after a mixed run the queue owes nothing, the log shows every delivery finished, and the numbering is where the receiver saw it", async () => {
  const { h } = await mixed();
  const status = await h.stub.status();
  expect(status).toMatchObject({ queued: 0, outbox: 0, oldest_at: null, next_attempt_at: null });
  const rows = (await h.log.prepare("SELECT status FROM deliveries WHERE webhook_id = ?").bind(h.wh.id).all<{ status: string }>()).results;
  expect(rows.map((r) => r.status).sort()).toEqual(["delivered", "delivered", "delivered", "failed", "failed"]);
  const seqs = (await h.r.received()).map((r) => Number(r.headers["x-broxiai-sequence"]));
  expect(status.last_sequence).toBe(Math.max(...seqs));
});
