import { config, type Env } from "./config";
import { queueOf } from "./delivery/queue-stub";
import { requeueFanout } from "./events/fanout";
import type { EventRow } from "./events/stored";
import { itemFor, unfinishedHandoffs } from "./handoffs";
import { idAtTime } from "./ids";
import { logDb, logShards } from "./shards";
import { toQueueConfig } from "./webhooks/store";
import type { WebhookRow } from "./webhooks/types";

/** A pending delivery overdue by this long is handed to its queue again, in case its hand-off was lost. */
const SWEEP_AFTER_MS = 2 * 60_000;
/** Webhooks swept per run, and deliveries re-handed per webhook: one run's work stays bounded whatever the backlog. */
const SWEEP_WEBHOOKS = 100;
const SWEEP_PER_WEBHOOK = 200;
/** Rows purged per table per run (every minute, so about 7.2 million a day). */
const PURGE_ROWS = 5000;

/**
 * The cron trigger, on every log shard at once: purge logs (and events) past retention, and sweep — re-hand overdue
 * pending deliveries of active webhooks to their queues (idempotent there) and make each such queue flush its outbox
 * and re-arm its alarm, so no delivery can be forgotten; and queue again large broadcasts' fan-out pages left undone.
 * The stages, and the shards, fail independently: a purge error does not stop the sweep, nor one shard's error
 * another's.
 */
export async function runMaintenance(env: Env, now = Date.now()): Promise<{ purged: number; swept: number; requeued: number }> {
  const shards = logShards(env);
  const requeued = requeueFanout(env, now).catch((err) => {
    console.error("re-queue of fan-out pages failed", err instanceof Error ? err.message : String(err));
    return 0;
  });
  const perShard = await Promise.all(
    shards.map(async (shard) => {
      let purged = 0;
      try {
        purged = await purge(logDb(env, shard), config(env).LOG_RETENTION_DAYS, now);
      } catch (err) {
        console.error("log purge failed", `shard ${shard}`, err instanceof Error ? err.message : String(err));
      }
      let found = 0;
      try {
        found = await sweepHandoffs(env, shard, now);
      } catch (err) {
        console.error("sweep of lost hand-offs failed", `shard ${shard}`, err instanceof Error ? err.message : String(err));
      }
      return { purged, found };
    }),
  );
  return {
    purged: perShard.reduce((n, r) => n + r.purged, 0),
    swept: perShard.reduce((n, r) => n + r.found, 0) + (await sweep(env, shards, now)),
    requeued: await requeued,
  };
}

/**
 * The distinct values of a leading key column in a shard's log, one key seek each (a loose index scan, as a recursive
 * CTE): the webhooks or accounts whose log the shard holds, found from the log itself, since their rows live in the
 * main database. Yields '' first (a broadcast's records are kept under account ''), then each value, then a NULL.
 */
const distinctIn = (name: string, column: string, from: string, where = "") =>
  `${name}(id) AS (SELECT '' UNION ALL SELECT (SELECT ${column} FROM ${from} WHERE ${column} > ${name}.id${where} ORDER BY ${column} LIMIT 1) FROM ${name} WHERE ${name}.id IS NOT NULL)`;
/** The accounts with events in the shard (and '', the broadcasts' records). */
const LOGGED_ACCOUNTS = distinctIn("logged_accounts", "account_id", "events");
/** The webhooks with deliveries in the shard. */
const LOGGED_WEBHOOKS = distinctIn("logged_webhooks", "webhook_id", "deliveries");
/** The webhooks with deliveries not delivered in the shard (what deliveries_open holds). */
const OPEN_WEBHOOKS = distinctIn("open_webhooks", "webhook_id", "deliveries INDEXED BY deliveries_open", " AND status <> 'delivered'");

/** Events read per run by the sweep of lost hand-offs (it goes on from where it stopped). */
const HANDOFF_EVENTS = 1000;

/**
 * A delivery reaches D1 from its queue (at its outcome, or pending once it waits), so one whose hand-off never
 * reached the queue — ingest stopped between storing the event and the queue's answer — has no row at all. Each run
 * reads the events the shard stored since the last one (up to SWEEP_AFTER_MS ago), account by account, and hands
 * every delivery they list that D1 has no row for to its queue again (which ignores one it holds). A broadcast's
 * deliveries are listed by its copy in each account, so its own record (which lists them all, for its repeat) is not
 * read here. Where it got to is one row in the shard's cron_state.
 */
async function sweepHandoffs(env: Env, shard: number, now: number): Promise<number> {
  const log = logDb(env, shard);
  const until = now - SWEEP_AFTER_MS;
  const mark = await log.prepare("SELECT value FROM cron_state WHERE key = 'handoffs'").first<{ value: number }>();
  const since = mark?.value ?? until - 3_600_000;
  if (since >= until) return 0;
  const events = (
    await log
      .prepare(
        `WITH RECURSIVE ${LOGGED_ACCOUNTS}
         SELECT e.* FROM logged_accounts a CROSS JOIN events e ON e.account_id = a.id
         WHERE a.id <> '' AND e.created_at >= ? AND e.created_at < ? AND e.deliveries > 0 ORDER BY e.created_at LIMIT ?`,
      )
      .bind(since, until, HANDOFF_EVENTS)
      .all<EventRow>()
  ).results;
  const lost = await unfinishedHandoffs(env, events, true, shard);
  const byWebhook = new Map<string, { webhook: WebhookRow; items: ReturnType<typeof itemFor>[] }>();
  for (const { event, webhook, deliveryId } of lost) {
    let entry = byWebhook.get(webhook.id);
    if (!entry) byWebhook.set(webhook.id, (entry = { webhook, items: [] }));
    entry.items.push(itemFor(event, webhook, deliveryId));
  }
  let failed = false;
  for (const { webhook, items } of byWebhook.values()) {
    try {
      await queueOf(env, webhook.id).enqueue(toQueueConfig(webhook), items);
    } catch (err) {
      failed = true;
      console.error("re-hand-off of a lost hand-off failed", webhook.id, err instanceof Error ? err.message : String(err));
    }
  }
  // Where a re-hand-off failed, the same events are read again next time.
  if (failed) return lost.length;
  // A full page stops at its last event's millisecond (read again next time: a re-hand-off changes nothing).
  const next = events.length < HANDOFF_EVENTS ? until : events[events.length - 1].created_at;
  await log.prepare("INSERT INTO cron_state (key, value) VALUES ('handoffs', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").bind(next).run();
  return lost.length;
}

/** Purges one shard's log past retention; it needs nothing from the main database. */
async function purge(log: D1Database, retentionDays: number, now: number): Promise<number> {
  const cutoff = now - retentionDays * 86_400_000;
  // Delivery ids begin with their creation millisecond and an attempt starts after its delivery was created, so
  // everything past retention lies below one id: attempts are a range of their key, deliveries a range of each
  // webhook's part of theirs ((webhook_id, id), webhook by webhook as the shard's own key lists them). The time
  // columns stay in the WHERE as the exact condition.
  const below = idAtTime("dlv", cutoff);
  const results = await log.batch([
    log
      .prepare(
        "DELETE FROM attempts WHERE (delivery_id, number) IN (SELECT delivery_id, number FROM attempts WHERE delivery_id < ? AND started_at < ? LIMIT ?)",
      )
      .bind(below, cutoff, PURGE_ROWS),
    // A delivered first attempt is kept in its deliveries row, so it goes with the row.
    log
      .prepare(
        `DELETE FROM deliveries WHERE (webhook_id, id) IN (WITH RECURSIVE ${LOGGED_WEBHOOKS}
           SELECT d.webhook_id, d.id FROM logged_webhooks w CROSS JOIN deliveries d ON d.webhook_id = w.id
           WHERE d.id < ? AND d.created_at < ? AND d.status <> 'pending' LIMIT ?)`,
      )
      .bind(below, cutoff, PURGE_ROWS),
    // Events go with their deliveries (the SPEC is silent; an unbounded event table would fill D1), but never
    // while a delivery of theirs is still pending: its redelivery is rebuilt from the event. The walk goes account
    // by account (and the broadcasts' own records, account_id '') through events_account_created, each a created_at
    // range. An event's deliveries were made in its millisecond, so those still pending lie below the same id: the
    // set kept back is read once per run from deliveries_open, webhook by webhook (usually it is empty).
    log
      .prepare(
        `DELETE FROM events WHERE (account_id, id) IN (WITH RECURSIVE ${LOGGED_ACCOUNTS}, ${OPEN_WEBHOOKS}
           SELECT e.account_id, e.id FROM logged_accounts a CROSS JOIN events e ON e.account_id = a.id
           WHERE e.created_at < ?
             AND (e.account_id, e.id) NOT IN (SELECT d.account_id, d.event_id FROM open_webhooks w CROSS JOIN deliveries d INDEXED BY deliveries_open ON d.webhook_id = w.id
                                              WHERE d.status = 'pending' AND d.status <> 'delivered' AND d.id < ?) LIMIT ?)`,
      )
      .bind(cutoff, below, PURGE_ROWS),
  ]);
  return results.reduce((n, r) => n + (r.meta.changes ?? 0), 0);
}

/** Candidates a shard offers the sweep per run, at most (ids, in random order). */
const SWEEP_CANDIDATES = 10_000;

/**
 * Re-hands overdue pending deliveries. Deliveries held behind a failing head also look overdue here (D1 knows only
 * when they were enqueued), and a webhook can hold millions of them. So the sweep picks webhooks first, in random
 * order, and takes a bounded page from each: a few huge backlogs cannot crowd out another webhook's genuinely lost
 * hand-off. Each shard names its webhooks with an overdue pending delivery (from its own index); the main database
 * says which of them are active; SWEEP_WEBHOOKS of those, across the shards, are swept.
 */
async function sweep(env: Env, shards: number[], now: number): Promise<number> {
  const overdue = now - SWEEP_AFTER_MS;
  const chosen = (
    await Promise.all(
      shards.map(async (shard) => {
        try {
          return (await activeOverdue(env, shard, overdue)).map((webhook) => ({ webhook, shard }));
        } catch (err) {
          console.error("sweep could not read its webhooks", `shard ${shard}`, err instanceof Error ? err.message : String(err));
          return [];
        }
      }),
    )
  ).flat();
  // Shuffled across the shards (Fisher–Yates), so that no shard's backlog goes first every minute.
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
  }
  let swept = 0;
  for (const { webhook, shard } of chosen.slice(0, SWEEP_WEBHOOKS)) {
    try {
      // Both read the partial index deliveries_open, named outright, since without statistics SQLite would take the key
      // (webhook_id, id) instead; `status <> 'delivered'`, implied by 'pending', is what lets the index apply.
      const stale = await logDb(env, shard)
        .prepare(
          `SELECT d.id AS delivery_id, e.* FROM deliveries d INDEXED BY deliveries_open JOIN events e ON e.account_id = d.account_id AND e.id = d.event_id
         WHERE d.webhook_id = ? AND d.status = 'pending' AND d.status <> 'delivered' AND d.next_attempt_at < ?
         ORDER BY d.id LIMIT ?`,
        )
        .bind(webhook.id, overdue, SWEEP_PER_WEBHOOK)
        .all<EventRow & { delivery_id: string }>();
      const items = stale.results.map(({ delivery_id, ...event }) => itemFor(event, webhook, delivery_id));
      const stub = queueOf(env, webhook.id);
      if (items.length > 0) await stub.enqueue(toQueueConfig(webhook), items);
      await stub.sweep();
      swept += items.length;
    } catch (err) {
      console.error("sweep of webhook queue failed", webhook.id, err instanceof Error ? err.message : String(err));
    }
  }
  return swept;
}

/** The active webhooks, at most SWEEP_WEBHOOKS in random order, with a pending delivery in this shard overdue. */
async function activeOverdue(env: Env, shard: number, overdue: number): Promise<WebhookRow[]> {
  const candidates = await logDb(env, shard)
    .prepare(
      `WITH RECURSIVE ${OPEN_WEBHOOKS}
       SELECT w.id FROM open_webhooks w
       WHERE w.id <> '' AND EXISTS (SELECT 1 FROM deliveries d INDEXED BY deliveries_open WHERE d.webhook_id = w.id AND d.status = 'pending' AND d.status <> 'delivered' AND d.next_attempt_at < ?)
       ORDER BY random() LIMIT ?`,
    )
    .bind(overdue, SWEEP_CANDIDATES)
    .all<{ id: string }>();
  if (candidates.results.length === 0) return [];
  const rows = await env.DB.prepare(
    `SELECT * FROM webhooks WHERE id IN (SELECT value FROM json_each(?)) AND active = 1 AND disabled_reason IS NULL AND deleted_at IS NULL
     ORDER BY random() LIMIT ?`,
  )
    .bind(JSON.stringify(candidates.results.map((c) => c.id)), SWEEP_WEBHOOKS)
    .all<WebhookRow>();
  return rows.results;
}
