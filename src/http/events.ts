import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { catalogDocument } from "../events/catalog";
import { EventInputSchema } from "../events/input";
import { findEvent } from "../events/store";
import type { EventRow } from "../events/stored";
import { ingest } from "../ingest";
import type { AppEnv } from "./app-env";
import { DeliverySchema, deliveriesOfEvent } from "./delivery-rows";
import { bearer, errors, IdParam, json, PageQuery, ProblemSchema, page } from "./openapi";
import { accountOf, logOf } from "./principal";
import { invalid, notFound, problemBody, problemResponse, zodFieldErrors } from "./problem";

const IngestAnswer = z.object({ id: z.string(), deliveries: z.number().int() }).openapi("IngestAnswer");
const EventSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    timestamp: z.string(),
    account_id: z.string(),
    data: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi("Event");

/** Ingest (the platform) and the event log (accounts), plus the public catalog. */
export const events = new OpenAPIHono<AppEnv>();

events.openapi(
  createRoute({
    method: "post",
    path: "/v1/events",
    tags: ["Events"],
    summary: "Ingest one event",
    description:
      "Stores the event, matches it against the account's webhooks and hands one delivery per match to that webhook's queue. The same `id` again answers 200 with the first answer and creates nothing.",
    security: bearer,
    request: { body: { required: true, ...json(EventInputSchema) } },
    responses: { 202: json(IngestAnswer, "Accepted"), 200: json(IngestAnswer, "Already accepted earlier"), ...errors },
  }),
  async (c) => {
    const [result] = await ingest(c.env, [c.req.valid("json")]);
    if ("error" in result) return problemResponse(result.status, result.error.detail, result.error) as never;
    return c.json(result.body, result.status);
  },
);

events.openapi(
  createRoute({
    method: "post",
    path: "/v1/events/batch",
    tags: ["Events"],
    summary: "Ingest up to 100 events",
    description: "One result per event, in order; 207 when some failed. Each event is accepted or refused on its own.",
    security: bearer,
    request: { body: { required: true, ...json(z.object({ events: z.array(z.unknown()).min(1) }).strict()) } },
    responses: {
      202: json(z.object({ data: z.array(z.union([IngestAnswer, z.object({ error: ProblemSchema })])) }), "All accepted"),
      207: json(z.object({ data: z.array(z.union([IngestAnswer, z.object({ error: ProblemSchema })])) }), "Some failed"),
      ...errors,
    },
  }),
  async (c) => {
    const { events: raw } = c.req.valid("json");
    if (raw.length > 100) throw invalid("events", `at most 100 events per batch (got ${raw.length})`);
    const parsed = raw.map((e) => EventInputSchema.safeParse(e));
    const valid = parsed.flatMap((p, i) => (p.success ? [{ i, input: p.data }] : []));
    const results = await ingest(
      c.env,
      valid.map((v) => v.input),
    );
    const data: unknown[] = parsed.map((p) =>
      p.success
        ? null
        : {
            error: {
              ...problemResponseBody(p.error.issues),
            },
          },
    );
    valid.forEach((v, k) => {
      const r = results[k];
      data[v.i] = "error" in r ? { error: r.error } : r.body;
    });
    const failed = data.some((d) => d && typeof d === "object" && "error" in d);
    return c.json({ data } as never, failed ? 207 : 202);
  },
);

function problemResponseBody(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[]) {
  const errs = zodFieldErrors(issues).map((e) => (e.path === "(body)" ? { ...e, path: "(event)" } : e));
  return problemBody(422, errs.map((e) => `${e.path}: ${e.message}`).join("; "), { errors: errs });
}

function toEvent(row: EventRow) {
  return {
    id: row.id,
    type: row.type,
    timestamp: row.timestamp,
    account_id: row.account_id,
    data: JSON.parse(row.data),
    created_at: new Date(row.created_at).toISOString(),
  };
}

events.openapi(
  createRoute({
    method: "get",
    path: "/v1/events",
    tags: ["Events"],
    summary: "List this account's events, newest first",
    description: "The fallback for receivers that were down: everything the account was sent, whether or not a webhook matched.",
    security: bearer,
    request: { query: PageQuery.extend({ type: z.string().max(100).optional() }) },
    responses: { 200: json(page(EventSchema), "A page of events"), 401: errors[401], 403: errors[403], 422: errors[422] },
  }),
  async (c) => {
    const accountId = accountOf(c);
    const { cursor, limit, type } = c.req.valid("query");
    const after = cursor === undefined ? null : parseEventCursor(cursor);
    // Newest first means by ingestion time, not by id: ids the platform gives need not sort by time. Events
    // stored in the same millisecond (one batch) follow by id, which for generated ids is their order. A broadcast
    // is listed through its copy in this account.
    const rows = await logOf(c)
      .prepare(
        `SELECT * FROM events WHERE account_id = ?1
       AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3)) AND (?4 IS NULL OR type = ?4)
       ORDER BY created_at DESC, id DESC LIMIT ?5`,
      )
      .bind(accountId, after?.createdAt ?? null, after?.id ?? null, type ?? null, limit + 1)
      .all<EventRow>();
    const more = rows.results.length > limit;
    const page = more ? rows.results.slice(0, limit) : rows.results;
    const last = page[page.length - 1];
    return c.json({ data: page.map(toEvent), next_cursor: more ? `${last.created_at}.${last.id}` : null }, 200);
  },
);

/** Reads a next_cursor of the event list: "<created_at ms>.<event id>". */
function parseEventCursor(cursor: string): { createdAt: number; id: string } {
  const match = /^(\d{1,15})\.(.+)$/.exec(cursor);
  if (!match) throw invalid("cursor", "not a cursor this list gave; pass next_cursor from the previous page unchanged");
  return { createdAt: Number(match[1]), id: match[2] };
}

events.openapi(
  createRoute({
    method: "get",
    path: "/v1/events/{event_id}",
    tags: ["Events"],
    summary: "One event",
    security: bearer,
    description: "With `deliveries`: what became of it, one delivery per webhook it was handed to (GET /v1/deliveries?event_id= pages them).",
    request: { params: IdParam("event_id", "evt_01JD3S4K2M0000000000000000") },
    responses: {
      200: json(EventSchema.extend({ deliveries: z.array(DeliverySchema) }).openapi("EventWithDeliveries"), "The event and its deliveries"),
      401: errors[401],
      404: errors[404],
    },
  }),
  async (c) => {
    const { event_id } = c.req.valid("param");
    const row = await findEvent(logOf(c), accountOf(c), event_id);
    if (!row) throw notFound("event", event_id);
    return c.json({ ...toEvent(row), deliveries: await deliveriesOfEvent(logOf(c), row) }, 200);
  },
);

events.openapi(
  createRoute({
    method: "get",
    path: "/v1/event-types",
    tags: ["Events"],
    summary: "The event catalog",
    description: "Every event type with its description, the JSON Schema of its `data`, and an example.",
    responses: {
      200: json(
        z.object({ data: z.array(z.object({ type: z.string(), category: z.string(), description: z.string(), schema: z.unknown(), example: z.unknown() })) }),
        "The catalog",
      ),
    },
  }),
  (c) => c.json(catalogDocument(), 200),
);
