import { z } from "@hono/zod-openapi";
import type { Env } from "./config";
import type { QueueItem } from "./delivery/contract";
import { pendingStatement, prepared } from "./delivery/log";
import { queueOf } from "./delivery/queue-stub";
import { isEventType, validateEventData } from "./events/catalog";
import { accountsHolding, eventKey, eventsByKey, findEvent, type Handoff, storeEvents, storeStatements } from "./events/store";
import { BROADCAST, type EventRow, type Payload } from "./events/stored";
import { itemFor, payloadFor, unfinishedHandoffs } from "./handoffs";
import { type FieldError, type Problem, problemBody } from "./http/problem";
import { newId } from "./ids";
import { matchesFilter } from "./webhooks/filter";
import { matchesEventType, TEST_EVENT_TYPE } from "./webhooks/match";
import { subscribedWebhooks, subscribedWebhooksQuery, toQueueConfig } from "./webhooks/store";
import type { WebhookRow } from "./webhooks/types";

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

export type { EventRow, Payload };
// The test route (src/http/webhooks.ts) builds its payload as ingest does.
export { payloadFor };

export type IngestResult = { status: 200 | 202; body: { id: string; deliveries: number } } | { status: number; error: Problem };

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

/** An event that passed validation, with its id (given or made) and the account it is stored under. */
interface Accepted {
  index: number;
  input: EventInput;
  id: string;
  /** Its account, or BROADCAST. */
  scope: string;
}

/**
 * Validate → store → match → hand off. Each event is stored, listing the deliveries it hands off (their rows are
 * their queues' to write; the events of a batch ingest share D1 transactions, see storeEvents), then handed to each
 * matching webhook's queue; the answer comes only when every hand-off is durable. If a hand-off fails the event is
 * already stored and the deliveries are written pending: the platform's retry with the same id finds it, re-hands
 * its unfinished deliveries to their queues (which ignore what they already hold), and answers 200 — nothing is
 * lost; without a retry, the cron sweeper does the same. An id is an event's within its account only: the same id in
 * another account is another event.
 */
export async function ingest(env: Env, inputs: EventInput[], now = Date.now()): Promise<IngestResult[]> {
  const results: IngestResult[] = new Array(inputs.length);
  const accepted: Accepted[] = [];
  inputs.forEach((input, index) => {
    const problem = eventProblem(input);
    if (problem) results[index] = problem;
    else accepted.push({ index, input, id: input.id ?? newId("evt", now), scope: input.account_id ?? BROADCAST });
  });
  if (accepted.length === 0) return results;

  const accountIds = [...new Set(accepted.map((a) => a.scope).filter((a) => a !== BROADCAST))];
  const keys = [...new Map(accepted.map((a) => [eventKey(a.scope, a.id), [a.scope, a.id] as [string, string]])).values()];
  // The account check, each account's subscriptions and the repeat check travel in one D1 round trip (the benchmark
  // measured single ingest at 42 → 67 events/s from this alone).
  const [accountRows, ...rest] = await env.DB.batch<Record<string, unknown>>([
    accountIds.length
      ? env.DB.prepare(`SELECT id FROM accounts WHERE id IN (${accountIds.map(() => "?").join(",")})`).bind(...accountIds)
      : env.DB.prepare("SELECT id FROM accounts WHERE 0"),
    ...accountIds.map((a) => subscribedWebhooksQuery(env.DB, a)),
    ...eventsByKey(env.DB, keys),
  ]);
  const known = new Set((accountRows.results as { id: string }[]).map((r) => r.id));
  const webhooksByAccount = new Map<string, Promise<WebhookRow[]>>();
  for (const [i, a] of accountIds.entries()) webhooksByAccount.set(a, Promise.resolve(rest[i].results as unknown as WebhookRow[]));
  // Only a broadcast's webhooks (every account's) are not read above: they are read once one is met.
  const subscribed = (scope: string) => {
    let rows = webhooksByAccount.get(scope);
    if (!rows) webhooksByAccount.set(scope, (rows = subscribedWebhooks(env.DB, null)));
    return rows;
  };
  const existing = new Map(rest.slice(accountIds.length).flatMap((r) => (r.results as unknown as EventRow[]).map((e) => [eventKey(e.account_id, e.id), e])));

  const handoffs = new Map<string, { webhook: WebhookRow; items: QueueItem[]; indexes: number[] }>();
  const addHandoff = (webhook: WebhookRow, item: QueueItem, index: number) => {
    let h = handoffs.get(webhook.id);
    if (!h) handoffs.set(webhook.id, (h = { webhook, items: [], indexes: [] }));
    h.items.push(item);
    h.indexes.push(index);
  };
  // A key sent twice in one call is one event: the later copies get the first copy's answer, settled at the end
  // (its hand-off may still fail).
  const firstInThisCall = new Map<string, number>();
  const repeats: [index: number, first: number][] = [];
  const toStore: (Accepted & { items: Handoff[]; statements: D1PreparedStatement[] })[] = [];

  for (const a of accepted) {
    const { index, input, id, scope } = a;
    if (scope !== BROADCAST && !known.has(scope)) {
      results[index] = invalidEvent([{ path: "account_id", message: `no account ${scope}` }]);
      continue;
    }
    const key = eventKey(scope, id);
    const previous = existing.get(key);
    if (previous) {
      results[index] = { status: 200, body: { id, deliveries: previous.deliveries } };
      for (const { webhook, deliveryId } of await unfinishedHandoffs(env, [previous])) addHandoff(webhook, itemFor(previous, webhook, deliveryId), index);
      continue;
    }
    const first = firstInThisCall.get(key);
    if (first !== undefined) {
      repeats.push([index, first]);
      continue;
    }
    firstInThisCall.set(key, index);
    const event: Payload = {
      id,
      type: input.type,
      timestamp: input.timestamp ?? new Date(now).toISOString(),
      account_id: input.account_id ?? null,
      data: input.data,
    };
    let matching = (await subscribed(scope)).filter(
      (w) => matchesEventType(JSON.parse(w.events), event.type) && (!w.filter || matchesFilter(JSON.parse(w.filter), event)),
    );
    if (scope === BROADCAST) {
      // An account that has an event with this id keeps it: its receivers never get a second event under one webhook-id.
      const accounts = [...new Set(matching.map((w) => w.account_id))];
      const holding = await accountsHolding(env.DB, id, accounts);
      for (const account of accounts) if (firstInThisCall.has(eventKey(account, id))) holding.add(account);
      matching = matching.filter((w) => !holding.has(w.account_id));
    }
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
    toStore.push({ ...a, items, statements: storeStatements(env.DB, event, scope, items, now) });
  }

  for (const { index, id, scope, items, stored } of await storeEvents(env.DB, toStore)) {
    if (!stored) {
      // A concurrent request stored the same key first: answer as a repeat. (A broadcast whose record is not there
      // met an account's event with its id stored meanwhile; sent again, it leaves that account out.)
      const row = await findEvent(env.DB, scope, id);
      results[index] = row
        ? { status: 200, body: { id, deliveries: row.deliveries } }
        : { status: 503, error: problemBody(503, "An event with this id was stored meanwhile in an account this broadcast goes to; send it again.") };
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
