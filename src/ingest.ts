import type { Env } from "./config";
import { storeBroadcasts } from "./events/broadcast";
import { isEventType, validateEventData } from "./events/catalog";
import type { Accepted, EventInput } from "./events/input";
import { isOperational } from "./events/operational";
import { HandoffPlan, type IngestResult } from "./events/plan";
import { eventKey, eventsByKey, type Handoff, insertEventStatement } from "./events/store";
import { BROADCAST, type EventRow, type Payload } from "./events/stored";
import { itemFor, payloadFor, unfinishedHandoffs } from "./handoffs";
import { type FieldError, problemBody } from "./http/problem";
import { newId } from "./ids";
import { batches, byShard, logDb } from "./shards";
import { TEST_EVENT_TYPE } from "./webhooks/match";
import { loadSubscriptions, matching, type Subscriptions, subscriptionsOf, versionQuery } from "./webhooks/subscriptions";

function invalidEvent(errors: FieldError[]): IngestResult {
  return { status: 422, error: problemBody(422, errors.map((e) => `${e.path}: ${e.message}`).join("; "), { errors }) };
}

/** Checks an event against the catalog; null when it may be stored. */
function eventProblem(input: EventInput, operational: boolean): IngestResult | null {
  if (!isEventType(input.type) || input.type === TEST_EVENT_TYPE) {
    return invalidEvent([{ path: "type", message: `unknown event type "${input.type}"; see GET /v1/event-types` }]);
  }
  // The operational types are the service's own word about a webhook: the platform cannot send one (it could name
  // any webhook in the data and pass for an alert).
  if (isOperational(input.type) !== operational) {
    return invalidEvent([
      { path: "type", message: `"${input.type}" is emitted by BroxiAI Webhooks itself about an account's webhooks; it cannot be ingested` },
    ]);
  }
  const checked = validateEventData(input.type, input.data);
  if (!checked.ok) return invalidEvent(checked.issues);
  if (!input.account_id && input.type !== "system.maintenance") {
    return invalidEvent([{ path: "account_id", message: "required (only system.maintenance may be sent to every account)" }]);
  }
  return null;
}

/**
 * Validate → match → store → hand off. An event is stored listing the deliveries it hands off (their rows are their
 * queues' to write), then handed to each matching webhook's queue; the answer comes once every hand-off is durable.
 * An id is an event's within its account only: the same id in another account is another event. `operational` is for
 * the webhooks' queues alone: the events they emit about their own webhook (src/delivery/alerts.ts), which the
 * platform may not send.
 */
export async function ingest(env: Env, inputs: EventInput[], now = Date.now(), opts: { operational?: boolean } = {}): Promise<IngestResult[]> {
  const plan = new HandoffPlan(inputs.length);
  const accepted: Accepted[] = [];
  inputs.forEach((input, index) => {
    const problem = eventProblem(input, opts.operational === true);
    if (problem) plan.answer(index, problem);
    else accepted.push({ index, input, id: input.id ?? newId("evt", now), scope: input.account_id ?? BROADCAST });
  });
  await storeAccountEvents(
    env,
    accepted.filter((a) => a.scope !== BROADCAST),
    now,
    plan,
  );
  await storeBroadcasts(
    env,
    accepted.filter((a) => a.scope === BROADCAST),
    now,
    plan,
  );
  return plan.handOff(env);
}

/** An event on its way to D1, with the deliveries it hands off and its account's log shard. */
interface ToStore extends Accepted {
  event: Payload;
  handoffs: Handoff[];
  shard: number;
}

/**
 * The single-event path, and a batch's events of known accounts. What each account's webhooks are comes from the
 * isolate's cache (webhooks/subscriptions.ts), so D1 is asked one thing: one batch that stores every event (a repeat is
 * an insert that finds its key taken, so the insert is the repeat check) and reads each account's webhooks_version,
 * which says whether the cache was current. An event matched against an older version is matched again and its row
 * corrected before anything is handed off.
 */
async function storeAccountEvents(env: Env, events: Accepted[], now: number, plan: HandoffPlan): Promise<void> {
  if (events.length === 0) return;
  // Accounts not in the cache are read side by side: a batch from 100 cold accounts waits for one round trip, not 100.
  const scopes = [...new Set(events.map((a) => a.scope))];
  const subs = new Map<string, Subscriptions | null>(await Promise.all(scopes.map(async (s) => [s, await subscriptionsOf(env.DB, s)] as const)));
  const firstInThisCall = new Map<string, number>();
  const toStore: ToStore[] = [];
  for (const a of events) {
    const s = subs.get(a.scope);
    if (!s) {
      plan.answer(a.index, invalidEvent([{ path: "account_id", message: `no account ${a.scope}` }]));
      continue;
    }
    const key = eventKey(a.scope, a.id);
    const first = firstInThisCall.get(key);
    if (first !== undefined) {
      plan.sameAs(a.index, first);
      continue;
    }
    firstInThisCall.set(key, a.index);
    const event: Payload = {
      id: a.id,
      type: a.input.type,
      timestamp: a.input.timestamp ?? new Date(now).toISOString(),
      account_id: a.scope,
      data: a.input.data,
    };
    toStore.push({ ...a, event, handoffs: handoffsFor(s, event, now), shard: s.logShard });
  }
  if (toStore.length === 0) return;
  const accounts = [...new Set(toStore.map((t) => t.scope))];
  // Each event goes to its account's log shard, the versions come from the main database: at most 100 events and 100
  // accounts a call, one batch (one transaction) per database, all at once — one round trip while the log is in the
  // main database.
  const groups = byShard(env, toStore, (t) => t.shard);
  const stored = await batches([
    ...groups.map(({ db, items }) => ({ db, statements: items.map((t) => insertEventStatement(db, t.event, t.scope, t.handoffs, now)) })),
    { db: env.DB, statements: accounts.map((a) => versionQuery(env.DB, a)) },
  ]);
  const inserted = new Map(groups.flatMap(({ items }, k) => items.map((t, i) => [t, stored[k][i]] as const)));
  const versions = new Map(accounts.map((a, i) => [a, (stored[groups.length][i].results[0] as { v: number }).v]));
  const repeats: ToStore[] = [];
  const corrections: { db: D1Database; statements: D1PreparedStatement[] }[] = [];
  for (const t of toStore) {
    if (inserted.get(t)!.results.length === 0) {
      repeats.push(t);
      continue;
    }
    if (versions.get(t.scope) !== subs.get(t.scope)!.version) {
      // The account's webhooks changed since the cache was filled: match against them as they are now.
      const fresh = (await loadSubscriptions(env.DB, t.scope))!;
      subs.set(t.scope, fresh);
      t.handoffs = handoffsFor(fresh, t.event, now);
      const log = logDb(env, t.shard);
      corrections.push({
        db: log,
        statements: [
          log
            .prepare("UPDATE events SET deliveries = ?, handoffs = ? WHERE account_id = ? AND id = ?")
            .bind(t.handoffs.length, JSON.stringify(t.handoffs.map(({ webhook, item }) => [webhook.id, item.delivery_id])), t.scope, t.id),
        ],
      });
    }
    plan.answer(t.index, { status: 202, body: { id: t.id, deliveries: t.handoffs.length } });
    for (const { webhook, item } of t.handoffs) plan.add(webhook, item, t.index);
  }
  if (corrections.length > 0) await batches(corrections);
  await answerRepeats(env, repeats, plan);
}

/** The deliveries an event hands off: one per matching webhook, each with the payload as that webhook receives it. */
function handoffsFor(subs: Subscriptions, event: Payload, now: number): Handoff[] {
  return matching(subs.webhooks, event).map((webhook) => ({
    webhook,
    item: { delivery_id: newId("dlv", now), event_id: event.id, event_type: event.type, payload: payloadFor(event, webhook), created_at: now, fresh: true },
  }));
}

/**
 * Events whose key was taken: a repeat gets the first answer, and the deliveries it handed off that D1 does not show
 * finished go to their queues again (which ignore what they hold; one D1 has no row for may be a hand-off that never
 * arrived).
 */
async function answerRepeats(env: Env, repeats: ToStore[], plan: HandoffPlan): Promise<void> {
  if (repeats.length === 0) return;
  const stored = new Map<string, EventRow>();
  const found = await batches<EventRow>(
    byShard(env, repeats, (t) => t.shard).map(({ db, items }) => ({
      db,
      statements: eventsByKey(
        db,
        items.map((t) => [t.scope, t.id]),
      ),
    })),
  );
  for (const r of found.flat()) {
    for (const e of r.results) stored.set(eventKey(e.account_id, e.id), e);
  }
  for (const t of repeats) {
    const previous = stored.get(eventKey(t.scope, t.id));
    if (!previous) {
      plan.answer(t.index, { status: 503, error: problemBody(503, "The event could not be stored right now; send it again with the same id.") });
      continue;
    }
    plan.answer(t.index, { status: 200, body: { id: t.id, deliveries: previous.deliveries } });
    for (const { webhook, deliveryId } of await unfinishedHandoffs(env, [previous], false, t.shard))
      plan.add(webhook, itemFor(previous, webhook, deliveryId), t.index);
  }
}
