import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { EventRow } from "../events/stored";
import { inLists } from "../sql";
import type { AppEnv } from "./app-env";
import { accountOf, logOf } from "./principal";

// The delivery rows as the routes read and answer them, shared by the log, redelivery and the stats.

/** A delivery's statuses (SPEC). */
export const STATUSES = ["pending", "delivered", "failed", "cancelled", "expired"] as const;

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
export function statusIs(status: string): { table: string; where: string } {
  return status === "delivered"
    ? { table: "deliveries", where: "status = ?" }
    : { table: "deliveries INDEXED BY deliveries_open", where: "status = ? AND status <> 'delivered'" };
}

/** A delivery as the API answers it, for the OpenAPI document. */
export const DeliverySchema = z
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

/** Milliseconds as the API's ISO 8601 string. */
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

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

/**
 * One of the caller's deliveries, found by its id alone. Deliveries are keyed by (webhook_id, id), so this probes the
 * key once for each of the account's webhooks (deleted ones too: their log stays readable). The webhooks are in the
 * main database and the log in the account's shard, so their ids are read first and passed as one JSON list.
 */
export async function deliveryOfAccount<T>(c: Context<AppEnv>, columns: string, id: string): Promise<T | null> {
  const webhooks = await c.env.DB.prepare("SELECT id FROM webhooks WHERE account_id = ?").bind(accountOf(c)).all<{ id: string }>();
  if (webhooks.results.length === 0) return null;
  return logOf(c)
    .prepare(`SELECT ${columns} FROM deliveries WHERE webhook_id IN (SELECT value FROM json_each(?)) AND id = ?`)
    .bind(JSON.stringify(webhooks.results.map((w) => w.id)), id)
    .first<T>();
}

/**
 * The deliveries one event handed off, as the API answers them, newest first (its row lists them: `handoffs`, keyed
 * like the deliveries table, so each is a key lookup). A hand-off whose queue has not written its row yet (it does
 * within about two seconds, README "When a delivery shows up") is shown pending, with no attempt.
 */
export async function deliveriesOfEvent(db: D1Database, event: EventRow) {
  const pairs = JSON.parse(event.handoffs) as [webhookId: string, deliveryId: string][];
  const found = new Map<string, DeliveryRow>();
  const runs = [...inLists(pairs, 45)];
  if (runs.length > 0) {
    const results = await db.batch<DeliveryRow>(
      runs.map(({ items }) =>
        db
          .prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE (webhook_id, id) IN (VALUES ${items.map(() => "(?, ?)").join(",")})`)
          .bind(...items.flat()),
      ),
    );
    for (const r of results.flatMap((x) => x.results)) found.set(`${r.webhook_id} ${r.id}`, r);
  }
  return pairs
    .map(
      ([webhookId, id]): DeliveryRow =>
        found.get(`${webhookId} ${id}`) ?? {
          id,
          webhook_id: webhookId,
          account_id: event.account_id,
          event_id: event.id,
          event_type: event.type,
          status: "pending",
          attempt_count: 0,
          next_attempt_at: null,
          last_status_code: null,
          last_error: null,
          latency_ms: null,
          created_at: event.created_at,
          updated_at: event.created_at,
          delivered_at: null,
        },
    )
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map(toDelivery);
}
