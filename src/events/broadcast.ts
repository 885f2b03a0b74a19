import { config, type Env } from "../config";
import { itemFor, payloadFor, unfinishedHandoffs } from "../handoffs";
import { problemBody } from "../http/problem";
import { newId } from "../ids";
import type { Filter } from "../webhooks/filter";
import { subscribes } from "../webhooks/match";
import type { WebhookRow } from "../webhooks/types";
import { startFanout } from "./fanout";
import type { Accepted } from "./input";
import type { HandoffPlan, IngestResult } from "./plan";
import { accountsElsewhere, accountsHolding, eventKey, eventsByKey, findEvent, type Handoff, storeAcrossShards, storeStatements } from "./store";
import { BROADCAST, type EventRow, type Payload } from "./stored";

/**
 * Broadcasts (`system.maintenance` without an account: to every account). Rare, and stored apart: the broadcast's
 * record under BROADCAST answers its repeat, and each account gets a copy (events/store.ts `storeStatements`). Every
 * account's webhooks are read for each call, uncached, as matching needs them (id, account, types, filter); only a
 * broadcast kept on the direct path (at most FANOUT_DIRECT_MAX webhooks) reads their whole rows. Past that it goes
 * through the fan-out queue (events/fanout.ts) and its copies are written page by page.
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
  const webhooks = await matchable(env.DB);
  const firstInThisCall = new Map<string, number>();
  const toStore: (Accepted & { handoffs: Handoff[]; byShard: Map<number, D1PreparedStatement[]> })[] = [];
  let elsewhere: Map<number, string[]> | undefined;
  for (const e of events) {
    const previous = existing.get(eventKey(BROADCAST, e.id));
    if (previous) {
      // A fanned-out broadcast's record lists no hand-offs: its pages, done or queued, hold them.
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
    const candidates = webhooks.filter((w) => subscribes(w, event));
    // An account that has an event with this id keeps it: its receivers never get a second event under one webhook-id.
    const holding = await accountsHolding(env, e.id, candidates);
    const chosen = candidates.filter((w) => !holding.has(w.account_id));
    if (chosen.length > config(env).FANOUT_DIRECT_MAX) {
      plan.answer(
        e.index,
        (await startFanout(env, event, chosen, now)) ? { status: 202, body: { id: e.id, deliveries: chosen.length } } : await storedMeanwhile(env, e.id),
      );
      continue;
    }
    const handoffs = (await webhookRows(env.DB, chosen)).map((webhook) => ({
      webhook,
      item: { delivery_id: newId("dlv", now), event_id: e.id, event_type: event.type, payload: payloadFor(event, webhook), created_at: now, fresh: true },
    }));
    elsewhere ??= await accountsElsewhere(env);
    toStore.push({ ...e, handoffs, byShard: storeStatements(env, event, handoffs, now, elsewhere) });
  }
  for (const { handoffs, stored, ...e } of await storeAcrossShards(env, toStore)) {
    if (!stored) {
      plan.answer(e.index, await storedMeanwhile(env, e.id));
      continue;
    }
    plan.answer(e.index, { status: 202, body: { id: e.id, deliveries: handoffs.length } });
    for (const { webhook, item } of handoffs) plan.add(webhook, item, e.index);
  }
}

/**
 * The answer to a broadcast stored meanwhile by a concurrent request: a repeat. (A broadcast whose record is not there
 * met an account's event with its id stored meanwhile; sent again, it leaves that account out.)
 */
async function storedMeanwhile(env: Env, id: string): Promise<IngestResult> {
  const row = await findEvent(env.DB, BROADCAST, id);
  return row
    ? { status: 200, body: { id, deliveries: row.deliveries } }
    : { status: 503, error: problemBody(503, "An event with this id was stored meanwhile in an account this broadcast goes to; send it again.") };
}

/** A webhook as a broadcast is matched against it: what matching and paging need, not its whole row. */
type Matchable = Pick<WebhookRow, "id" | "account_id" | "log_shard"> & { events: string[]; filter: Filter | null };

/** Every webhook that may receive a broadcast (all but the deleted), as matching needs it. */
async function matchable(db: D1Database): Promise<Matchable[]> {
  const rows = await db
    .prepare("SELECT id, account_id, log_shard, events, filter FROM webhooks WHERE deleted_at IS NULL")
    .all<Pick<WebhookRow, "id" | "account_id" | "log_shard" | "events" | "filter">>();
  return rows.results.map((r) => ({ ...r, events: JSON.parse(r.events), filter: r.filter ? JSON.parse(r.filter) : null }));
}

/** The whole rows of these webhooks (at most FANOUT_DIRECT_MAX), in their order; one deleted meanwhile is left out. */
async function webhookRows(db: D1Database, webhooks: Matchable[]): Promise<WebhookRow[]> {
  if (webhooks.length === 0) return [];
  const rows = await db
    .prepare("SELECT * FROM webhooks WHERE id IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL")
    .bind(JSON.stringify(webhooks.map((w) => w.id)))
    .all<WebhookRow>();
  const byId = new Map(rows.results.map((w) => [w.id, w]));
  return webhooks.flatMap((w) => byId.get(w.id) ?? []);
}
