import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { findEvent } from "../events/store";
import { logDb } from "../shards";
import type { AppEnv } from "./app-env";
import { DELIVERY_COLUMNS, type DeliveryRow, DeliverySchema, deliveriesOfEvent, deliveryOfAccount, iso, STATUSES, statusIs, toDelivery } from "./delivery-rows";
import { bearer, errors, IdParam, json, PageQuery, page } from "./openapi";
import { pageOf } from "./pagination";
import { accountOf, logOf } from "./principal";
import { notFound } from "./problem";
import { loadWebhook } from "./webhooks";

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

/** One of the caller's deliveries with every attempt, or 404. */
export async function loadDelivery(c: Context<AppEnv>, id: string) {
  const row = await deliveryOfAccount<DeliveryRow & FirstAttemptColumns>(c, "*", id);
  if (!row) throw notFound("delivery", id);
  const rows = await logOf(c).prepare("SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number").bind(id).all<AttemptRow>();
  // A first attempt that succeeded lives in the deliveries row; every other attempt is an attempts row.
  const first = inlineFirstAttempt(row);
  const attempts = first ? [first, ...rows.results.filter((a) => a.number !== 1)] : rows.results;
  return { ...toDelivery(row), attempts: attempts.map(toAttempt) };
}

/** The delivery log: a webhook's deliveries, and one delivery with every attempt. */
export const deliveries = new OpenAPIHono<AppEnv>();

deliveries.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks/{webhook_id}/deliveries",
    tags: ["Deliveries"],
    summary: "A webhook's deliveries, newest first",
    security: bearer,
    request: {
      params: IdParam("webhook_id", "wh_01JD3S4K2M0000000000000000"),
      query: PageQuery.extend({ status: z.enum(STATUSES).optional(), event_type: z.string().max(100).optional() }),
    },
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
    const rows = await logDb(c.env, webhook.log_shard)
      .prepare(`SELECT ${DELIVERY_COLUMNS} FROM ${table} WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ?`)
      .bind(...args, limit + 1)
      .all<DeliveryRow>();
    return c.json(pageOf(rows.results.map(toDelivery), limit), 200);
  },
);

deliveries.openapi(
  createRoute({
    method: "get",
    path: "/v1/deliveries",
    tags: ["Deliveries"],
    summary: "One event's deliveries across the account's webhooks, newest first",
    description:
      "Debugging starts from the event: every delivery it was handed off as, to each webhook that matched (held ones of a webhook that is off included). A hand-off its queue has not logged yet shows as pending with no attempt.",
    security: bearer,
    request: {
      query: PageQuery.extend({
        event_id: z.string().min(1).max(200).openapi({ description: "The event (as GET /v1/events lists it)", example: "evt_01JD3S4K2M0000000000000000" }),
      }),
    },
    responses: { 200: json(page(DeliverySchema), "A page of the event's deliveries"), 401: errors[401], 404: errors[404], 422: errors[422] },
  }),
  async (c) => {
    const { event_id, cursor, limit } = c.req.valid("query");
    const event = await findEvent(logOf(c), accountOf(c), event_id);
    if (!event) throw notFound("event", event_id);
    const all = await deliveriesOfEvent(logOf(c), event);
    return c.json(pageOf(cursor === undefined ? all : all.filter((d) => d.id < cursor), limit), 200);
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
