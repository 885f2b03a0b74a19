import type { Env } from "../config";
import { itemFor, payloadFor, unfinishedHandoffs } from "../handoffs";
import { problemBody } from "../http/problem";
import { newId } from "../ids";
import { subscribedWebhooks } from "../webhooks/store";
import { matching, subscriberOf } from "../webhooks/subscriptions";
import type { Accepted } from "./input";
import type { HandoffPlan } from "./plan";
import { accountsElsewhere, accountsHolding, eventKey, eventsByKey, findEvent, type Handoff, storeAcrossShards, storeStatements } from "./store";
import { BROADCAST, type EventRow, type Payload } from "./stored";

/**
 * Broadcasts (`system.maintenance` without an account: to every account). Rare, and stored apart: the broadcast's
 * record under BROADCAST answers its repeat, and each account gets a copy (events/store.ts `storeStatements`). Every
 * account's webhooks are read for each call, uncached.
 */
export async function storeBroadcasts(env: Env, events: Accepted[], now: number, plan: HandoffPlan): Promise<void> {
  if (events.length === 0) return;
  const existing = new Map<string, EventRow>();
  for (const r of await env.DB.batch<EventRow>(
    eventsByKey(
      env.DB,
      events.map((e) => [BROADCAST, e.id]),
    ),
  )) {
    for (const e of r.results) existing.set(eventKey(e.account_id, e.id), e);
  }
  const webhooks = (await subscribedWebhooks(env.DB, null)).map(subscriberOf);
  const firstInThisCall = new Map<string, number>();
  const toStore: (Accepted & { handoffs: Handoff[]; byShard: Map<number, D1PreparedStatement[]> })[] = [];
  const elsewhere = await accountsElsewhere(env);
  for (const e of events) {
    const previous = existing.get(eventKey(BROADCAST, e.id));
    if (previous) {
      plan.answer(e.index, { status: 200, body: { id: e.id, deliveries: previous.deliveries } });
      for (const { webhook, deliveryId } of await unfinishedHandoffs(env, [previous])) plan.add(webhook, itemFor(previous, webhook, deliveryId), e.index);
      continue;
    }
    const first = firstInThisCall.get(e.id);
    if (first !== undefined) {
      plan.sameAs(e.index, first);
      continue;
    }
    firstInThisCall.set(e.id, e.index);
    const event: Payload = { id: e.id, type: e.input.type, timestamp: e.input.timestamp ?? new Date(now).toISOString(), account_id: null, data: e.input.data };
    const candidates = matching(webhooks, event);
    // An account that has an event with this id keeps it: its receivers never get a second event under one webhook-id.
    const holding = await accountsHolding(env, e.id, candidates);
    const handoffs = candidates
      .filter((w) => !holding.has(w.account_id))
      .map((webhook) => ({
        webhook,
        item: { delivery_id: newId("dlv", now), event_id: e.id, event_type: event.type, payload: payloadFor(event, webhook), created_at: now, fresh: true },
      }));
    toStore.push({ ...e, handoffs, byShard: storeStatements(env, event, handoffs, now, elsewhere) });
  }
  for (const { handoffs, stored, ...e } of await storeAcrossShards(env, toStore)) {
    if (!stored) {
      // Stored meanwhile by a concurrent request: a repeat. (A broadcast whose record is not there met an account's
      // event with its id stored meanwhile; sent again, it leaves that account out.)
      const row = await findEvent(env.DB, BROADCAST, e.id);
      plan.answer(
        e.index,
        row
          ? { status: 200, body: { id: e.id, deliveries: row.deliveries } }
          : { status: 503, error: problemBody(503, "An event with this id was stored meanwhile in an account this broadcast goes to; send it again.") },
      );
      continue;
    }
    plan.answer(e.index, { status: 202, body: { id: e.id, deliveries: handoffs.length } });
    for (const { webhook, item } of handoffs) plan.add(webhook, item, e.index);
  }
}
