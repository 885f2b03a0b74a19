import { z } from "@hono/zod-openapi";
import type { Env } from "./config";
import type { QueueItem } from "./delivery/contract";
import { pendingStatement, prepared } from "./delivery/log";
import { queueOf } from "./delivery/queue-stub";
import { isEventType, validateEventData } from "./events/catalog";
import { type FieldError, type Problem, problemBody } from "./http/problem";
import { idAtTime, newId } from "./ids";
import { inLists } from "./sql";
import { matchesFilter } from "./webhooks/filter";
import { matchesEventType, TEST_EVENT_TYPE } from "./webhooks/match";
import { redact } from "./webhooks/paths";
import { subscribedWebhooks, subscribedWebhooksQuery, toQueueConfig, type WebhookRow } from "./webhooks/store";

/** An event as the platform sends it. */
export const EventInputSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_\-.:]{1,128}$/, "1–128 characters of A-Z a-z 0-9 _ - . :")
      .optional()
      .openapi({ description: "Your id for the event; sending the same id again is answered 200 with the first answer and creates nothing." }),
    type: z.string().max(100).openapi({ example: "workflow.completed" }),
    account_id: z
      .string()
      // "" must not pass for "absent": it would broadcast, yet be stored under no account and sent as "".
      .min(1)
      .max(100)
      .nullable()
      .optional()
      .openapi({ description: "Required, except for system.maintenance, which without it goes to every account." }),
    data: z.record(z.string(), z.unknown()),
    timestamp: z.iso.datetime({ offset: true }).optional(),
  })
  .openapi("EventInput");

export type EventInput = z.infer<typeof EventInputSchema>;

/** A stored event row. */
export interface EventRow {
  id: string;
  account_id: string | null;
  type: string;
  timestamp: string;
  data: string;
  deliveries: number;
  created_at: number;
  /** What ingest handed off, as JSON [[webhook_id, delivery_id], …]; null for events stored before it was kept. */
  handoffs?: string | null;
}

/** The payload every receiver gets (SPEC "base webhook structure"). */
export interface Payload {
  id: string;
  type: string;
  timestamp: string;
  account_id: string | null;
  data: Record<string, unknown>;
}

export type IngestResult = { status: 200 | 202; body: { id: string; deliveries: number } } | { status: number; error: Problem };

/** The payload as one webhook receives it: a broadcast carries the webhook's own account, and redact paths are applied. */
export function payloadFor(event: Payload, webhook: Pick<WebhookRow, "account_id" | "redact">): string {
  const payload: Payload = { ...event, account_id: event.account_id ?? webhook.account_id };
  const paths = JSON.parse(webhook.redact) as string[];
  return JSON.stringify(paths.length ? redact(payload, paths) : payload);
}

function invalidEvent(errors: FieldError[]): IngestResult {
  return { status: 422, error: problemBody(422, errors.map((e) => `${e.path}: ${e.message}`).join("; "), { errors }) };
}

/** Checks an event against the catalog; null when it may be stored. */
function eventProblem(input: EventInput): IngestResult | null {
  if (!isEventType(input.type) || input.type === TEST_EVENT_TYPE) {
    return invalidEvent([{ path: "type", message: `unknown event type "${input.type}"; see GET /v1/event-types` }]);
  }
  const checked = validateEventData(input.type, input.data);
  if (!checked.ok) return invalidEvent(checked.issues);
  if (!input.account_id && input.type !== "system.maintenance") {
    return invalidEvent([{ path: "account_id", message: "required (only system.maintenance may be sent to every account)" }]);
  }
  return null;
}

/**
 * Validate → store → match → hand off. Each event is stored, listing the deliveries it hands off (their rows are
 * their queues' to write; the events of a batch ingest share D1 transactions, see storeEvents), then handed to each
 * matching webhook's queue; the answer comes only when every hand-off is durable. If a hand-off fails the event is
 * already stored and the deliveries are written pending: the platform's retry with the same id finds it, re-hands
 * its unfinished deliveries to their queues (which ignore what they already hold), and answers 200 — nothing is
 * lost; without a retry, the cron sweeper does the same.
 */
export async function ingest(env: Env, inputs: EventInput[], now = Date.now()): Promise<IngestResult[]> {
  const results: IngestResult[] = new Array(inputs.length);
  const webhooksByAccount = new Map<string, Promise<WebhookRow[]>>();
  const subscribed = (accountId: string | null) => {
    const key = accountId ?? "*";
    let rows = webhooksByAccount.get(key);
    if (!rows) {
      rows = subscribedWebhooks(env.DB, accountId);
      webhooksByAccount.set(key, rows);
    }
    return rows;
  };

  const accepted: { index: number; input: EventInput; id: string }[] = [];
  inputs.forEach((input, index) => {
    const problem = eventProblem(input);
    if (problem) results[index] = problem;
    else accepted.push({ index, input, id: input.id ?? newId("evt", now) });
  });
  if (accepted.length === 0) return results;

  const accountIds = [...new Set(accepted.map((a) => a.input.account_id).filter((a): a is string => !!a))];
  // The repeat check, the account check and each account's subscriptions travel in one D1 round trip (the
  // benchmark measured single ingest at 42 → 67 events/s from this alone).
  const ids = accepted.map((a) => a.id);
  const [found, accountRows, ...subscriptions] = await env.DB.batch<Record<string, unknown>>([
    env.DB.prepare(`SELECT * FROM events WHERE id IN (${ids.map(() => "?").join(",")})`).bind(...ids),
    accountIds.length
      ? env.DB.prepare(`SELECT id FROM accounts WHERE id IN (${accountIds.map(() => "?").join(",")})`).bind(...accountIds)
      : env.DB.prepare("SELECT id FROM accounts WHERE 0"),
    ...accountIds.map((a) => subscribedWebhooksQuery(env.DB, a)),
  ]);
  const known = new Set((accountRows.results as { id: string }[]).map((r) => r.id));
  const existing = new Map((found.results as unknown as EventRow[]).map((r) => [r.id, r]));
  for (const [i, a] of accountIds.entries()) webhooksByAccount.set(a, Promise.resolve(subscriptions[i].results as unknown as WebhookRow[]));

  const handoffs = new Map<string, { webhook: WebhookRow; items: QueueItem[]; indexes: number[] }>();
  const addHandoff = (webhook: WebhookRow, item: QueueItem, index: number) => {
    let h = handoffs.get(webhook.id);
    if (!h) handoffs.set(webhook.id, (h = { webhook, items: [], indexes: [] }));
    h.items.push(item);
    h.indexes.push(index);
  };
  // An id sent twice in one call is one event: the later copies get the first copy's answer, settled at the end
  // (its hand-off may still fail).
  const firstInThisCall = new Map<string, number>();
  const repeats: [index: number, first: number][] = [];
  const toStore: ToStore[] = [];

  for (const { index, input, id } of accepted) {
    const accountId = input.account_id ?? null;
    if (accountId && !known.has(accountId)) {
      results[index] = invalidEvent([{ path: "account_id", message: `no account ${accountId}` }]);
      continue;
    }
    const previous = existing.get(id);
    if (previous) {
      results[index] = { status: 200, body: { id, deliveries: previous.deliveries } };
      await rehandPending(env, previous, index, addHandoff);
      continue;
    }
    const first = firstInThisCall.get(id);
    if (first !== undefined) {
      repeats.push([index, first]);
      continue;
    }
    firstInThisCall.set(id, index);
    const event: Payload = { id, type: input.type, timestamp: input.timestamp ?? new Date(now).toISOString(), account_id: accountId, data: input.data };
    const matching = (await subscribed(accountId)).filter(
      (w) => matchesEventType(JSON.parse(w.events), event.type) && (!w.filter || matchesFilter(JSON.parse(w.filter), event)),
    );
    const items = matching.map((w) => ({
      webhook: w,
      item: {
        delivery_id: newId("dlv", now),
        event_id: id,
        event_type: event.type,
        payload: payloadFor(event, w),
        created_at: now,
        fresh: true,
      } satisfies QueueItem,
    }));
    // The deliveries' own rows are written by their queues (at the outcome, or pending as soon as one waits); the
    // event lists what it handed off, so that a hand-off that never arrives can be found (a repeat, the sweeper).
    const statement = env.DB.prepare(
      "INSERT INTO events (id, account_id, type, timestamp, data, deliveries, created_at, handoffs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).bind(
      id,
      accountId,
      event.type,
      event.timestamp,
      JSON.stringify(event.data),
      items.length,
      now,
      JSON.stringify(items.map(({ webhook, item }) => [webhook.id, item.delivery_id])),
    );
    toStore.push({ index, id, items, statement });
  }

  for (const { index, id, items, stored } of await storeEvents(env, toStore)) {
    if (!stored) {
      // A concurrent request stored the same id first: answer as a repeat.
      const row = await env.DB.prepare("SELECT * FROM events WHERE id = ?").bind(id).first<EventRow>();
      results[index] = { status: 200, body: { id, deliveries: row?.deliveries ?? 0 } };
      continue;
    }
    results[index] = { status: 202, body: { id, deliveries: items.length } };
    for (const { webhook, item } of items) addHandoff(webhook, item, index);
  }

  await Promise.all(
    [...handoffs.values()].map(async ({ webhook, items, indexes }) => {
      try {
        await queueOf(env, webhook.id).enqueue(toQueueConfig(webhook), items);
      } catch (err) {
        console.error("hand-off to webhook queue failed", webhook.id, err instanceof Error ? err.message : String(err));
        // Written pending, so the cron sweeper re-hands them even if the platform never sends the event again.
        try {
          const now = Date.now();
          await env.DB.batch(items.map((it) => prepared(env.DB, pendingStatement(webhook.id, webhook.account_id, it, it.created_at, now))));
        } catch (e) {
          console.error("could not record the lost hand-off", webhook.id, e instanceof Error ? e.message : String(e));
        }
        for (const i of indexes) {
          results[i] = {
            status: 503,
            error: problemBody(503, "The event is stored but could not be handed to every webhook yet; send it again with the same id."),
          };
        }
      }
    }),
  );
  for (const [index, first] of repeats) {
    const r = results[first];
    results[index] = "error" in r ? r : { status: 200, body: r.body };
  }
  return results;
}

/** One new event, the deliveries it hands off, and the D1 statement that stores it. */
interface ToStore {
  index: number;
  id: string;
  items: { webhook: WebhookRow; item: QueueItem }[];
  statement: D1PreparedStatement;
}

/** Events stored per D1 batch (a transaction). */
const STORE_BATCH = 200;

/**
 * Stores new events, STORE_BATCH per D1 batch (a transaction), so a batch ingest of 100 events is one round trip
 * instead of 100. A batch refused because one of its events was stored meanwhile by a concurrent request (the same
 * id) is stored again event by event, so that only that event is answered as a repeat (`stored: false`). Any other
 * failure is thrown, as before.
 */
async function storeEvents(env: Env, events: ToStore[]): Promise<(ToStore & { stored: boolean })[]> {
  const out: (ToStore & { stored: boolean })[] = [];
  const repeat = (err: unknown) => /UNIQUE constraint failed: events\.id/.test(String(err));
  for (let i = 0; i < events.length; i += STORE_BATCH) {
    const group = events.slice(i, i + STORE_BATCH);
    try {
      await env.DB.batch(group.map((e) => e.statement));
      for (const e of group) out.push({ ...e, stored: true });
      continue;
    } catch (err) {
      if (!repeat(err)) throw err;
      if (group.length === 1) {
        out.push({ ...group[0], stored: false });
        continue;
      }
    }
    for (const e of group) {
      try {
        await env.DB.batch([e.statement]);
        out.push({ ...e, stored: true });
      } catch (err) {
        if (!repeat(err)) throw err;
        out.push({ ...e, stored: false });
      }
    }
  }
  return out;
}

/**
 * A repeated event: the deliveries it handed off that D1 does not show finished go to their queues again (they
 * deduplicate by delivery id, and one D1 has no row for may be a hand-off that never arrived). Events stored before
 * the event listed its hand-offs: their pending deliveries were made in the event's millisecond, so for each webhook
 * of its account (of every account, for a broadcast) they are within that millisecond's range of the key.
 */
async function rehandPending(
  env: Env,
  event: EventRow,
  index: number,
  addHandoff: (webhook: WebhookRow, item: QueueItem, index: number) => void,
): Promise<void> {
  if (event.handoffs) {
    for (const { webhook, deliveryId } of await unfinishedHandoffs(env, [event])) addHandoff(webhook, itemFor(event, webhook, deliveryId), index);
    return;
  }
  const pending = await env.DB.prepare(
    `SELECT d.id AS delivery_id, w.* FROM webhooks w CROSS JOIN deliveries d ON d.webhook_id = w.id
     WHERE ${event.account_id === null ? "" : "w.account_id = ? AND "}w.deleted_at IS NULL
       AND d.status = 'pending' AND d.status <> 'delivered' AND d.id >= ? AND d.id < ? AND d.event_id = ?`,
  )
    .bind(...(event.account_id === null ? [] : [event.account_id]), idAtTime("dlv", event.created_at), idAtTime("dlv", event.created_at + 1), event.id)
    .all<WebhookRow & { delivery_id: string }>();
  for (const row of pending.results) {
    const { delivery_id, ...webhook } = row;
    addHandoff(webhook as WebhookRow, itemFor(event, webhook as WebhookRow, delivery_id), index);
  }
}

/**
 * The hand-offs of these events (listed in their rows) whose delivery D1 does not show finished — pending, or with no
 * row at all (only those, with `missingOnly`) — to webhooks not deleted since.
 */
export async function unfinishedHandoffs(
  env: Env,
  events: EventRow[],
  missingOnly = false,
): Promise<{ event: EventRow; webhook: WebhookRow; deliveryId: string }[]> {
  const pairs = events.flatMap((event) => (JSON.parse(event.handoffs ?? "[]") as [string, string][]).map(([w, d]) => ({ event, w, d })));
  if (pairs.length === 0) return [];
  const status = new Map<string, string>();
  const webhooks = new Map<string, WebhookRow>();
  for (const { items, marks } of inLists(pairs, 45)) {
    const [done, hooks] = await env.DB.batch<Record<string, unknown>>([
      env.DB.prepare(`SELECT webhook_id, id, status FROM deliveries WHERE (webhook_id, id) IN (VALUES ${items.map(() => "(?, ?)").join(",")})`).bind(
        ...items.flatMap((p) => [p.w, p.d]),
      ),
      env.DB.prepare(`SELECT * FROM webhooks WHERE id IN (${marks}) AND deleted_at IS NULL`).bind(...items.map((p) => p.w)),
    ]);
    for (const r of done.results as { webhook_id: string; id: string; status: string }[]) status.set(`${r.webhook_id} ${r.id}`, r.status);
    for (const w of hooks.results as unknown as WebhookRow[]) webhooks.set(w.id, w);
  }
  return pairs
    .filter((p) => {
      const st = status.get(`${p.w} ${p.d}`);
      return webhooks.has(p.w) && (st === undefined || (st === "pending" && !missingOnly));
    })
    .map((p) => ({ event: p.event, webhook: webhooks.get(p.w)!, deliveryId: p.d }));
}

/** Rebuilds a queue item from the stored event (redelivery, replay, the sweeper). */
export function itemFor(event: EventRow, webhook: WebhookRow, deliveryId: string, attemptCount?: number): QueueItem {
  const payload: Payload = { id: event.id, type: event.type, timestamp: event.timestamp, account_id: event.account_id, data: JSON.parse(event.data) };
  return {
    delivery_id: deliveryId,
    event_id: event.id,
    event_type: event.type,
    payload: payloadFor(payload, webhook),
    created_at: event.created_at,
    ...(attemptCount !== undefined ? { attempt_count: attemptCount } : {}),
  };
}
