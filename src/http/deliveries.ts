import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { QueueItem } from "../delivery/contract";
import { queueOf } from "../delivery/queue-stub";
import { idAtTime } from "../ids";
import { type EventRow, itemFor } from "../ingest";
import { IN_LIST_MAX, inLists } from "../sql";
import { getWebhookRow, toQueueConfig, type WebhookRow } from "../webhooks/store";
import type { AppEnv } from "./app-env";
import { bearer, errors, IdParam, json, PageQuery, page } from "./openapi";
import { pageOf } from "./pagination";
import { accountOf } from "./principal";
import { invalid, notFound, ProblemError } from "./problem";
import { loadWebhook } from "./webhooks";

const STATUSES = ["pending", "delivered", "failed", "cancelled", "expired"] as const;

/** A row of the deliveries table. */
export interface DeliveryRow {
  id: string;
  webhook_id: string;
  account_id: string;
  event_id: string;
  event_type: string;
  status: (typeof STATUSES)[number];
  attempt_count: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  latency_ms: number | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

/**
 * The columns of a DeliveryRow. A deliveries row also holds its first attempt when that succeeded (the first_*
 * columns, bodies included), which only GET /v1/deliveries/{id} reads: lists name their columns instead of `*`.
 */
export const DELIVERY_COLUMNS =
  "id, webhook_id, account_id, event_id, event_type, status, attempt_count, next_attempt_at, last_status_code, last_error, latency_ms, created_at, updated_at, delivered_at";

/**
 * The table and `status = ?` for reading one status. Any status but delivered is read through the partial index
 * deliveries_open, named outright: the table's own key (webhook_id, id) looks as good to SQLite, which has no
 * statistics, and would walk all of the webhook's deliveries. The index applies only when the WHERE says
 * `status <> 'delivered'` literally, which for these statuses is implied anyway.
 */
function statusIs(status: string): { table: string; where: string } {
  return status === "delivered"
    ? { table: "deliveries", where: "status = ?" }
    : { table: "deliveries INDEXED BY deliveries_open", where: "status = ? AND status <> 'delivered'" };
}

/** The first attempt as its deliveries row keeps it (all NULL unless the first attempt succeeded). */
interface FirstAttemptColumns {
  first_started_at: number | null;
  first_duration_ms: number | null;
  first_status_code: number | null;
  first_request_headers: string | null;
  first_request_body: string | null;
  first_response_headers: string | null;
  first_response_body: string | null;
}

interface AttemptRow {
  number: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  request_headers: string;
  request_body: string;
  response_headers: string | null;
  response_body: string | null;
}

const DeliverySchema = z
  .object({
    id: z.string(),
    webhook_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(STATUSES),
    attempt_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
  })
  .openapi("Delivery");

const AttemptSchema = z
  .object({
    number: z.number().int(),
    started_at: z.string(),
    duration_ms: z.number(),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    request_headers: z.record(z.string(), z.string()),
    request_body: z.string(),
    response_headers: z.record(z.string(), z.string()).nullable(),
    response_body: z.string().nullable(),
  })
  .openapi("Attempt");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A delivery row as the API answers it. */
export function toDelivery(r: DeliveryRow) {
  return {
    id: r.id,
    webhook_id: r.webhook_id,
    event_id: r.event_id,
    event_type: r.event_type,
    status: r.status,
    attempt_count: r.attempt_count,
    next_attempt_at: r.status === "pending" ? iso(r.next_attempt_at) : null,
    last_status_code: r.last_status_code,
    last_error: r.last_error,
    created_at: iso(r.created_at)!,
    delivered_at: iso(r.delivered_at),
  };
}

function toAttempt(a: AttemptRow) {
  return {
    number: a.number,
    started_at: iso(a.started_at)!,
    duration_ms: a.duration_ms,
    status_code: a.status_code,
    error: a.error,
    request_headers: JSON.parse(a.request_headers) as Record<string, string>,
    request_body: a.request_body,
    response_headers: a.response_headers ? (JSON.parse(a.response_headers) as Record<string, string>) : null,
    response_body: a.response_body,
  };
}

/** The first attempt kept in a deliveries row, as an attempts row would hold it; null when there is none. */
function inlineFirstAttempt(r: FirstAttemptColumns): AttemptRow | null {
  if (r.first_started_at === null) return null;
  return {
    number: 1,
    started_at: r.first_started_at,
    duration_ms: r.first_duration_ms ?? 0,
    status_code: r.first_status_code,
    error: null,
    request_headers: r.first_request_headers ?? "{}",
    request_body: r.first_request_body ?? "",
    response_headers: r.first_response_headers,
    response_body: r.first_response_body,
  };
}

/**
 * One of the caller's deliveries, found by its id alone. Deliveries are keyed by (webhook_id, id), so this probes the
 * key once for each of the account's webhooks (deleted ones too: their log stays readable).
 */
function deliveryOfAccount<T>(c: Context<AppEnv>, columns: string, id: string): Promise<T | null> {
  return c.env.DB.prepare(`SELECT ${columns} FROM deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE account_id = ?) AND id = ?`)
    .bind(accountOf(c), id)
    .first<T>();
}

/** One of the caller's deliveries with every attempt, or 404. */
export async function loadDelivery(c: Context<AppEnv>, id: string) {
  const row = await deliveryOfAccount<DeliveryRow & FirstAttemptColumns>(c, "*", id);
  if (!row) throw notFound("delivery", id);
  const rows = await c.env.DB.prepare("SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number").bind(id).all<AttemptRow>();
  // A first attempt that succeeded lives in the deliveries row; every other attempt is an attempts row.
  const first = inlineFirstAttempt(row);
  const attempts = first ? [first, ...rows.results.filter((a) => a.number !== 1)] : rows.results;
  return { ...toDelivery(row), attempts: attempts.map(toAttempt) };
}

/** Redelivers deliveries through their webhook's queue, rebuilding each payload from the stored event. */
async function redeliver(c: Context<AppEnv>, webhook: WebhookRow, rows: DeliveryRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const eventIds = [...new Set(rows.map((r) => r.event_id))];
  const events = new Map<string, EventRow>();
  for (const { items: chunk, marks } of inLists(eventIds)) {
    const found = await c.env.DB.prepare(`SELECT * FROM events WHERE id IN (${marks})`)
      .bind(...chunk)
      .all<EventRow>();
    for (const e of found.results) events.set(e.id, e);
  }
  const sequences = await firstSequences(
    c.env.DB,
    webhook.id,
    rows.map((r) => r.id),
  );
  // Test sends have no stored event; they are not redelivered.
  const items: QueueItem[] = rows.flatMap((r) => {
    const e = events.get(r.event_id);
    if (!e) return [];
    const item = itemFor(e, webhook, r.id, r.attempt_count);
    const sequence = sequences.get(r.id);
    return [sequence === undefined ? item : { ...item, sequence }];
  });
  const stub = queueOf(c.env, webhook.id);
  let total = 0;
  for (let i = 0; i < items.length; i += 200) {
    total += (await stub.redeliver(toQueueConfig(webhook), items.slice(i, i + 200))).requeued;
  }
  return total;
}

/**
 * The x-broxiai-sequence each delivery was first sent with, read from its logged first attempt (inline in the
 * delivery row when it succeeded, an attempts row when it failed): a redelivery goes out under the same number.
 * Deliveries never sent, or sent in a batch ("first-last"), have none.
 */
async function firstSequences(db: D1Database, webhookId: string, ids: string[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  // Each id is bound twice (one IN list per table), so half a run at a time (plus the webhook's id).
  for (const { items: chunk, marks } of inLists(ids, IN_LIST_MAX / 2)) {
    const rows = await db
      .prepare(
        `SELECT id, json_extract(first_request_headers, '$."x-broxiai-sequence"') AS seq FROM deliveries WHERE webhook_id = ? AND id IN (${marks}) AND first_request_headers IS NOT NULL
         UNION ALL
         SELECT delivery_id, json_extract(request_headers, '$."x-broxiai-sequence"') FROM attempts WHERE delivery_id IN (${marks}) AND number = 1`,
      )
      .bind(webhookId, ...chunk, ...chunk)
      .all<{ id: string; seq: string | null }>();
    for (const r of rows.results) {
      if (r.seq !== null && /^[1-9]\d*$/.test(String(r.seq))) found.set(r.id, Number(r.seq));
    }
  }
  return found;
}

/** Delivery log, redelivery, replay and statistics. */
export const deliveries = new OpenAPIHono<AppEnv>();

const WebhookParam = IdParam("webhook_id", "wh_01JD3S4K2M0000000000000000");

deliveries.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks/{webhook_id}/deliveries",
    tags: ["Deliveries"],
    summary: "A webhook's deliveries, newest first",
    security: bearer,
    request: { params: WebhookParam, query: PageQuery.extend({ status: z.enum(STATUSES).optional(), event_type: z.string().max(100).optional() }) },
    responses: { 200: json(page(DeliverySchema), "A page of deliveries"), 401: errors[401], 404: errors[404], 422: errors[422] },
  }),
  async (c) => {
    const webhook = await loadWebhook(c, c.req.valid("param").webhook_id);
    const { cursor, limit, status, event_type } = c.req.valid("query");
    // Only the filters given are in the statement, so SQLite walks a range: the key (webhook_id, id) newest first, or
    // for a status other than delivered the partial index (webhook_id, status, id).
    let table = "deliveries";
    const where = ["webhook_id = ?"];
    const args: (string | number)[] = [webhook.id];
    if (cursor !== undefined) {
      where.push("id < ?");
      args.push(cursor);
    }
    if (status !== undefined) {
      const filter = statusIs(status);
      table = filter.table;
      where.push(filter.where);
      args.push(status);
    }
    if (event_type !== undefined) {
      where.push("event_type = ?");
      args.push(event_type);
    }
    const rows = await c.env.DB.prepare(`SELECT ${DELIVERY_COLUMNS} FROM ${table} WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ?`)
      .bind(...args, limit + 1)
      .all<DeliveryRow>();
    return c.json(pageOf(rows.results.map(toDelivery), limit), 200);
  },
);

deliveries.openapi(
  createRoute({
    method: "get",
    path: "/v1/deliveries/{delivery_id}",
    tags: ["Deliveries"],
    summary: "One delivery with every attempt",
    description: "Each attempt's request headers and body, response status, headers and body (kept up to 4 KiB), duration and error.",
    security: bearer,
    request: { params: IdParam("delivery_id", "dlv_01JD3S4K2M0000000000000000") },
    responses: { 200: json(DeliverySchema.extend({ attempts: z.array(AttemptSchema) }), "The delivery"), 401: errors[401], 404: errors[404] },
  }),
  async (c) => c.json(await loadDelivery(c, c.req.valid("param").delivery_id), 200),
);

deliveries.openapi(
  createRoute({
    method: "post",
    path: "/v1/deliveries/{delivery_id}/retry",
    tags: ["Deliveries"],
    summary: "Redeliver now",
    description: "A pending delivery skips its wait; a failed, expired or delivered one is queued again with its original sequence number.",
    security: bearer,
    request: { params: IdParam("delivery_id", "dlv_01JD3S4K2M0000000000000000") },
    responses: { 202: json(DeliverySchema, "Queued"), 401: errors[401], 404: errors[404], 409: errors[422] },
  }),
  async (c) => {
    const id = c.req.valid("param").delivery_id;
    const row = await deliveryOfAccount<DeliveryRow>(c, DELIVERY_COLUMNS, id);
    if (!row) throw notFound("delivery", id);
    const webhook = await getWebhookRow(c.env.DB, row.account_id, row.webhook_id);
    if (!webhook) throw new ProblemError(409, "The webhook of this delivery has been deleted.");
    if ((await redeliver(c, webhook, [row])) === 0) throw new ProblemError(409, "Test sends cannot be redelivered; send a new test instead.");
    const fresh = await c.env.DB.prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = ? AND id = ?`)
      .bind(row.webhook_id, id)
      .first<DeliveryRow>();
    return c.json(toDelivery(fresh!), 202);
  },
);

deliveries.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks/{webhook_id}/replay",
    tags: ["Deliveries"],
    summary: "Re-enqueue a time range's failed deliveries",
    description: "Queues again every delivery of the webhook created in [since, until) with the given status (default failed); at most 10,000 per call.",
    security: bearer,
    request: {
      params: WebhookParam,
      body: {
        required: true,
        ...json(
          z
            .object({
              since: z.iso.datetime({ offset: true }),
              until: z.iso.datetime({ offset: true }).optional(),
              status: z.enum(["failed", "expired", "cancelled", "delivered"]).optional(),
            })
            .strict(),
        ),
      },
    },
    responses: { 202: json(z.object({ replayed: z.number().int() }), "How many were queued"), ...errors },
  }),
  async (c) => {
    const webhook = await loadWebhook(c, c.req.valid("param").webhook_id);
    const { since, until, status = "failed" } = c.req.valid("json");
    const from = Date.parse(since);
    const to = until ? Date.parse(until) : Date.now() + 1;
    if (until && to <= from) throw invalid("until", "must be after since");
    let replayed = 0;
    // Delivery ids begin with their creation millisecond, so [since, until) is an id range of the webhook's index
    // (the partial one for a status other than delivered); created_at stays in the WHERE as the exact condition.
    let cursor = idAtTime("dlv", from);
    const filter = statusIs(status);
    for (let pageNo = 0; pageNo < 20; pageNo++) {
      const rows = await c.env.DB.prepare(
        `SELECT ${DELIVERY_COLUMNS} FROM ${filter.table} WHERE webhook_id = ? AND ${filter.where}
         AND id ${pageNo === 0 ? ">=" : ">"} ? AND id < ? AND created_at >= ? AND created_at < ? ORDER BY id LIMIT 500`,
      )
        .bind(webhook.id, status, cursor, idAtTime("dlv", to), from, to)
        .all<DeliveryRow>();
      if (rows.results.length === 0) break;
      replayed += await redeliver(c, webhook, rows.results);
      cursor = rows.results[rows.results.length - 1].id;
      if (rows.results.length < 500) break;
    }
    return c.json({ replayed }, 202);
  },
);

const WINDOWS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };

deliveries.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks/{webhook_id}/stats",
    tags: ["Deliveries"],
    summary: "Delivery statistics over a window",
    description:
      "Counts by status of the deliveries created in the window, success rate (delivered ÷ finished), and end-to-end latency p50/p95 of the delivered ones.",
    security: bearer,
    request: { params: WebhookParam, query: z.object({ window: z.enum(["1h", "24h", "7d", "30d"]).default("24h") }) },
    responses: {
      200: json(
        z
          .object({
            window: z.string(),
            total: z.number().int(),
            delivered: z.number().int(),
            failed: z.number().int(),
            pending: z.number().int(),
            cancelled: z.number().int(),
            expired: z.number().int(),
            success_rate: z.number().nullable(),
            latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
          })
          .openapi("Stats"),
        "Statistics",
      ),
      401: errors[401],
      404: errors[404],
    },
  }),
  async (c) => {
    const webhook = await loadWebhook(c, c.req.valid("param").webhook_id);
    const { window } = c.req.valid("query");
    return c.json(await webhookStats(c.env.DB, webhook.id, window, Date.now()), 200);
  },
);

/** Counts, success rate and latency percentiles of one webhook's deliveries created within the window. */
export async function webhookStats(db: D1Database, webhookId: string, window: string, now: number) {
  const since = now - (WINDOWS[window] ?? WINDOWS["24h"]);
  // The window is a range of the key (webhook_id, id): delivery ids begin with their creation millisecond.
  const from = idAtTime("dlv", since);
  const counts = await db
    .prepare("SELECT status, count(*) AS n FROM deliveries WHERE webhook_id = ? AND id >= ? AND created_at >= ? GROUP BY status")
    .bind(webhookId, from, since)
    .all<{ status: string; n: number }>();
  const by = Object.fromEntries(counts.results.map((r) => [r.status, r.n])) as Record<string, number>;
  const n = (s: string) => by[s] ?? 0;
  const delivered = n("delivered");
  const failed = n("failed");
  const percentile = async (p: number) => {
    if (delivered === 0) return null;
    const offset = Math.min(delivered - 1, Math.max(0, Math.ceil((p / 100) * delivered) - 1));
    const row = await db
      .prepare(
        "SELECT latency_ms FROM deliveries WHERE webhook_id = ? AND id >= ? AND created_at >= ? AND status = 'delivered' ORDER BY latency_ms LIMIT 1 OFFSET ?",
      )
      .bind(webhookId, from, since, offset)
      .first<{ latency_ms: number }>();
    return row?.latency_ms ?? null;
  };
  return {
    window,
    total: Object.values(by).reduce((a, b) => a + b, 0),
    delivered,
    failed,
    pending: n("pending"),
    cancelled: n("cancelled"),
    expired: n("expired"),
    success_rate: delivered + failed > 0 ? delivered / (delivered + failed) : null,
    latency_ms: { p50: await percentile(50), p95: await percentile(95) },
  };
}
