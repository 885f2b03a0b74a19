import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { QueueItem } from "../delivery/contract";
import { queueOf } from "../delivery/queue-stub";
import type { EventRow } from "../events/stored";
import { itemFor } from "../handoffs";
import { idAtTime } from "../ids";
import { logDb } from "../shards";
import { IN_LIST_MAX, inLists } from "../sql";
import { getWebhookRow, toQueueConfig } from "../webhooks/store";
import type { WebhookRow } from "../webhooks/types";
import type { AppEnv } from "./app-env";
import { DELIVERY_COLUMNS, type DeliveryRow, DeliverySchema, deliveryOfAccount, statusIs, toDelivery } from "./delivery-rows";
import { bearer, errors, IdParam, json } from "./openapi";
import { invalid, notFound, ProblemError } from "./problem";
import { loadWebhook } from "./webhooks";

/** Redelivers deliveries through their webhook's queue, rebuilding each payload from the stored event (in the webhook's account). */
async function redeliver(c: Context<AppEnv>, webhook: WebhookRow, rows: DeliveryRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const log = logDb(c.env, webhook.log_shard);
  const eventIds = [...new Set(rows.map((r) => r.event_id))];
  const events = new Map<string, EventRow>();
  for (const { items: chunk, marks } of inLists(eventIds)) {
    const found = await log
      .prepare(`SELECT * FROM events WHERE account_id = ? AND id IN (${marks})`)
      .bind(webhook.account_id, ...chunk)
      .all<EventRow>();
    for (const e of found.results) events.set(e.id, e);
  }
  const sequences = await firstSequences(
    log,
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

/** Redelivery: one delivery now, or a time range of a webhook's deliveries. */
export const redelivery = new OpenAPIHono<AppEnv>();

redelivery.openapi(
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
    const fresh = await logDb(c.env, webhook.log_shard)
      .prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = ? AND id = ?`)
      .bind(row.webhook_id, id)
      .first<DeliveryRow>();
    return c.json(toDelivery(fresh!), 202);
  },
);

redelivery.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks/{webhook_id}/replay",
    tags: ["Deliveries"],
    summary: "Re-enqueue a time range's failed deliveries",
    description: "Queues again every delivery of the webhook created in [since, until) with the given status (default failed); at most 10,000 per call.",
    security: bearer,
    request: {
      params: IdParam("webhook_id", "wh_01JD3S4K2M0000000000000000"),
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
      const rows = await logDb(c.env, webhook.log_shard)
        .prepare(
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
