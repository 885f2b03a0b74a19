import type { Env } from "../config";
import { itemFor } from "../handoffs";
import { newId } from "../ids";
import { batches, byShard } from "../shards";
import type { WebhookRow } from "../webhooks/types";
import type { FanoutMessage } from "./fanout-contract";
import { HandoffPlan } from "./plan";
import { COLUMNS, COPY_LIST } from "./store";
import { BROADCAST, type EventRow } from "./stored";

/**
 * One page of a large broadcast's fan-out (events/fanout.ts), run by the FANOUT queue's consumer: write the copy of
 * the broadcast in each of the page's accounts (in its log shard), listing the deliveries it hands off, then hand
 * them to their webhooks' queues, then delete the page. Answers how many hand-offs it made.
 *
 * Run twice — a redelivered message, a consumer that died mid-page, the cron queuing it again — it creates nothing
 * twice: a copy is inserted only where the account has no event with that id, and every hand-off is read back from
 * the copy as stored, so the same delivery id goes to the same queue again, which drops a delivery it already
 * holds or D1 shows finished (delivery/queue.ts `enqueue`; only the run that wrote a copy hands its deliveries off
 * as `fresh`, needing no such check). The receiver sees one
 * webhook-id. A copy marked `fanout` is this broadcast's; an account's own event with that id (fanout 0) is left
 * alone, as a direct broadcast leaves it.
 */
export async function runPage(env: Env, msg: FanoutMessage): Promise<number> {
  const db = env.DB;
  const [records, hooks, accounts] = await db.batch<Record<string, unknown>>([
    db
      .prepare("SELECT e.* FROM events e WHERE e.account_id = ? AND e.id = ? AND EXISTS (SELECT 1 FROM fanout_pages WHERE event_id = ? AND page = ?)")
      .bind(BROADCAST, msg.event_id, msg.event_id, msg.page),
    db
      .prepare(
        `SELECT w.* FROM fanout_pages p JOIN json_each(p.webhooks) j JOIN webhooks w ON w.id = j.value
         WHERE p.event_id = ? AND p.page = ? AND w.deleted_at IS NULL`,
      )
      .bind(msg.event_id, msg.page),
    // Account ids are ASCII, so '~' sorts after every one of them: the last page's range runs to the end.
    db
      .prepare(
        `SELECT a.id, a.log_shard FROM fanout_pages p JOIN accounts a ON a.id > p.after_account AND a.id <= coalesce(p.last_account, '~')
         WHERE p.event_id = ? AND p.page = ?`,
      )
      .bind(msg.event_id, msg.page),
  ]);
  const record = records.results[0] as unknown as EventRow | undefined;
  const done = () => db.prepare("DELETE FROM fanout_pages WHERE event_id = ? AND page = ?").bind(msg.event_id, msg.page).run();
  if (!record) {
    // No page: it is done. (Or the broadcast's record was purged past retention: its page goes too.)
    await done();
    return 0;
  }
  const webhooks = new Map((hooks.results as unknown as WebhookRow[]).map((w) => [w.id, w]));
  const planned = new Map<string, [webhookId: string, deliveryId: string][]>();
  for (const w of webhooks.values()) planned.set(w.account_id, [...(planned.get(w.account_id) ?? []), [w.id, newId("dlv", record.created_at)]]);

  const all = accounts.results as unknown as { id: string; log_shard: number }[];
  const parts = byShard(env, all, (a) => a.log_shard).map(({ db: log, items }) => {
    const ids = items.map((a) => a.id);
    const withHandoffs = ids.filter((id) => planned.has(id));
    const statements = withHandoffs.map((account) => copyStatement(log, record, account, planned.get(account)!));
    // Every other account of the range sees the notice in its event list, unless it has an event with that id.
    for (let i = 0; i < ids.length; i += COPY_LIST) statements.push(zeroCopiesStatement(log, record, ids.slice(i, i + COPY_LIST)));
    // Read last, in the same transaction: what each account with hand-offs holds now, written by this run or before.
    statements.push(
      log
        .prepare("SELECT account_id, fanout, handoffs FROM events WHERE account_id IN (SELECT value FROM json_each(?)) AND id = ?")
        .bind(JSON.stringify(withHandoffs), record.id),
    );
    return { db: log, statements };
  });
  const written = await batches<Pick<EventRow, "account_id" | "fanout" | "handoffs">>(parts);

  const plan = new HandoffPlan(1);
  let handed = 0;
  plan.answer(0, { status: 202, body: { id: record.id, deliveries: 0 } });
  for (const results of written) {
    for (const copy of results.at(-1)?.results ?? []) {
      if (copy.fanout !== 1) continue;
      // The ids this run just made: a copy listing them was written by this run, so no queue has seen its deliveries
      // and none needs to ask D1 about them (`fresh`). A copy written before lists older ids, checked as re-hand-offs.
      const mine = new Set((planned.get(copy.account_id) ?? []).map(([, deliveryId]) => deliveryId));
      for (const [webhookId, deliveryId] of JSON.parse(copy.handoffs) as [string, string][]) {
        const webhook = webhooks.get(webhookId);
        if (!webhook) continue;
        const item = itemFor(record, webhook, deliveryId);
        plan.add(webhook, mine.has(deliveryId) ? { ...item, fresh: true } : item, 0);
        handed++;
      }
    }
  }
  const [result] = await plan.handOff(env);
  // A failed hand-off was written pending (HandoffPlan); the page runs again and hands it off then.
  if ("error" in result) throw new Error(`a hand-off of fan-out page ${msg.page} of ${msg.event_id} failed`);
  await done();
  return handed;
}

/** An account's copy listing its hand-offs; nothing when the account has an event with that id (its own, or this one). */
function copyStatement(db: D1Database, record: EventRow, account: string, handoffs: [string, string][]): D1PreparedStatement {
  return db
    .prepare(`INSERT INTO events (${COLUMNS}, fanout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (account_id, id) DO NOTHING`)
    .bind(account, record.id, record.type, record.timestamp, record.data, handoffs.length, record.created_at, JSON.stringify(handoffs));
}

/** The copies, with no hand-offs, for accounts that have none (a WHERE tells SQLite the upsert from a join constraint). */
function zeroCopiesStatement(db: D1Database, record: EventRow, accounts: string[]): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO events (${COLUMNS}, fanout) SELECT value, ?, ?, ?, ?, 0, ?, '[]', 1 FROM json_each(?) WHERE true ON CONFLICT (account_id, id) DO NOTHING`,
    )
    .bind(record.id, record.type, record.timestamp, record.data, record.created_at, JSON.stringify(accounts));
}

/** Hand-offs one invocation makes before it leaves the rest of its batch for the next (one subrequest each). */
const INVOCATION_HANDOFFS = 500;

/**
 * The FANOUT queue's consumer: each page in turn (its hand-offs at once), acknowledged when done, retried when it
 * failed (the queue redelivers it; after max_retries the cron queues it again, since its row outlives the message).
 * A page is whole accounts, so one with an account of more than FANOUT_PAGE webhooks is larger: once the invocation
 * has made INVOCATION_HANDOFFS hand-offs, the batch's remaining pages are retried rather than run, which keeps it
 * within the 1,000 subrequests whatever MAX_WEBHOOKS_PER_ACCOUNT allows (up to ~900 webhooks in one account).
 */
export async function consumeFanout(batch: MessageBatch<FanoutMessage>, env: Env): Promise<void> {
  let handed = 0;
  for (const msg of batch.messages) {
    if (handed >= INVOCATION_HANDOFFS) {
      msg.retry();
      continue;
    }
    try {
      handed += await runPage(env, msg.body);
      msg.ack();
    } catch (err) {
      console.error("fan-out page failed; it is retried", msg.body.event_id, msg.body.page, err instanceof Error ? err.message : String(err));
      msg.retry();
    }
  }
}
