import { config, type Env } from "../config";
import type { FanoutMessage } from "./fanout-contract";
import { COLUMNS, isRepeat } from "./store";
import { BROADCAST, type Payload } from "./stored";

/**
 * Fan-out of large broadcasts through the FANOUT Cloudflare Queue. A broadcast that matches more webhooks than
 * FANOUT_DIRECT_MAX is not handed off within its ingest call (1 + F statements and F RPCs would pass the 1,000
 * subrequests an invocation may make, and its CPU budget, at tens of thousands of webhooks). Ingest stores the
 * broadcast's record and its pages in one transaction (the job, durable before the 202), then sends one message per
 * page; each message's consumer writes its accounts' copies and hands their deliveries off (events/fanout-page.ts).
 *
 * A page is whole accounts (each account's copy is written by one page) with at most FANOUT_PAGE webhooks the
 * broadcast matched at ingest; an account with more webhooks than that is a page of its own. Pages left undone
 * (their message lost, or dropped after its retries) are queued again by the cron (requeueFanout).
 */

/** Webhooks per page, at most (but for an account with more): a consumer batch of 5 pages makes ~520 subrequests. */
export const FANOUT_PAGE = 100;
/** Pages per statement that stores them (one bound JSON array of at most ~5,000 webhook ids, ~150 KB). */
const PAGES_PER_STATEMENT = 50;
/** Messages per sendBatch call (Cloudflare Queues' limit is 100 messages and 256 KB; ours are ~60 bytes each). */
const SEND_BATCH = 100;
/** Stale pages the cron queues again per run. */
const REQUEUE_PAGES = 1000;

/** A webhook as the fan-out pages it: its id and its account. */
export interface Paged {
  id: string;
  account_id: string;
}

/** One page of a fan-out: the accounts after `after` up to `last` (null: to the end), and the webhooks it hands to. */
export interface Page {
  after: string;
  last: string | null;
  webhooks: string[];
}

/**
 * Cuts the webhooks a broadcast goes to into pages of whole accounts, at most FANOUT_PAGE webhooks each. The pages'
 * account ranges cover every account (the first starts at the lowest id, the last runs to the end), so each account
 * gets its copy of the notice from exactly one page, matched webhooks or none.
 */
export function pagesOf(webhooks: Paged[]): Page[] {
  const byAccount = new Map<string, string[]>();
  for (const w of [...webhooks].sort((a, b) => (a.account_id < b.account_id ? -1 : a.account_id > b.account_id ? 1 : a.id < b.id ? -1 : 1))) {
    const list = byAccount.get(w.account_id);
    if (list) list.push(w.id);
    else byAccount.set(w.account_id, [w.id]);
  }
  const pages: Page[] = [];
  let current: Page | null = null;
  for (const [account, ids] of byAccount) {
    if (current && current.webhooks.length + ids.length > FANOUT_PAGE) {
      pages.push(current);
      current = null;
    }
    current ??= { after: pages.at(-1)?.last ?? BROADCAST, last: account, webhooks: [] };
    current.last = account;
    current.webhooks.push(...ids);
  }
  if (current) pages.push(current);
  if (pages.length > 0) pages[pages.length - 1].last = null;
  return pages;
}

/**
 * Stores a broadcast's record (its answer for a repeat: `deliveries`, no hand-offs listed, `fanout` 1) and its pages
 * in one transaction, then queues the pages. False when the record was stored meanwhile by a concurrent request (a
 * repeat). The answer stands once the transaction is committed: a page whose message could not be sent is queued by
 * the next cron run instead.
 */
export async function startFanout(env: Env, event: Payload, webhooks: Paged[], now: number): Promise<boolean> {
  const pages = pagesOf(webhooks);
  const statements = [
    env.DB.prepare(`INSERT INTO events (${COLUMNS}, fanout) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', 1)`).bind(
      BROADCAST,
      event.id,
      event.type,
      event.timestamp,
      JSON.stringify(event.data),
      webhooks.length,
      now,
    ),
  ];
  for (let i = 0; i < pages.length; i += PAGES_PER_STATEMENT) {
    const run = pages.slice(i, i + PAGES_PER_STATEMENT).map((p, k) => [i + k, p.after, p.last, JSON.stringify(p.webhooks)]);
    statements.push(
      env.DB.prepare(
        `INSERT INTO fanout_pages (event_id, page, after_account, last_account, webhooks, created_at, queued_at)
         SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, ?, ? FROM json_each(?)`,
      ).bind(event.id, now, now, JSON.stringify(run)),
    );
  }
  try {
    await env.DB.batch(statements);
  } catch (err) {
    if (isRepeat(err)) return false;
    throw err;
  }
  try {
    await sendPages(
      env,
      pages.map((_, page) => ({ event_id: event.id, page })),
    );
  } catch (err) {
    console.error("could not queue a broadcast's fan-out pages; the cron queues them", event.id, err instanceof Error ? err.message : String(err));
    // Marked as queued long ago, so the next cron run (within a minute) queues them rather than one in ten.
    await env.DB.prepare("UPDATE fanout_pages SET queued_at = 0 WHERE event_id = ?")
      .bind(event.id)
      .run()
      .catch(() => {});
  }
  return true;
}

/** Sends page messages, SEND_BATCH per call. */
async function sendPages(env: Env, messages: FanoutMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += SEND_BATCH) {
    await env.FANOUT.sendBatch(messages.slice(i, i + SEND_BATCH).map((body) => ({ body, contentType: "json" })));
  }
}

/**
 * The cron's part: pages queued more than FANOUT_REQUEUE_AFTER_S (default 10 minutes) ago and still not done (their
 * message was lost, dropped after its retries, or is merely slow) are queued again, at most REQUEUE_PAGES a run. A page run twice hands
 * nothing twice (events/fanout-page.ts), so queuing a slow page again costs one more run of it, never a duplicate.
 */
export async function requeueFanout(env: Env, now: number): Promise<number> {
  const stale = (
    await env.DB.prepare("SELECT event_id, page FROM fanout_pages WHERE queued_at < ? ORDER BY queued_at LIMIT ?")
      .bind(now - config(env).FANOUT_REQUEUE_AFTER_S * 1000, REQUEUE_PAGES)
      .all<FanoutMessage>()
  ).results;
  if (stale.length === 0) return 0;
  console.warn("queuing fan-out pages again", stale.length, [...new Set(stale.map((p) => p.event_id))].join(", "));
  await sendPages(env, stale);
  await env.DB.prepare("UPDATE fanout_pages SET queued_at = ? WHERE (event_id, page) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))")
    .bind(now, JSON.stringify(stale.map((p) => [p.event_id, p.page])))
    .run();
  return stale.length;
}
