import type { Env } from "./config";
import type { QueueItem } from "./delivery/contract";
import { BROADCAST, type EventRow, type Payload } from "./events/stored";
import { batches, byShard, logDb } from "./shards";
import { inLists } from "./sql";
import { redact } from "./webhooks/paths";
import type { WebhookRow } from "./webhooks/types";

/** The payload as one webhook receives it: a broadcast carries the webhook's own account, and redact paths are applied. */
export function payloadFor(event: Payload, webhook: Pick<WebhookRow, "account_id" | "redact">): string {
  const payload: Payload = { ...event, account_id: event.account_id ?? webhook.account_id };
  const paths = JSON.parse(webhook.redact) as string[];
  return JSON.stringify(paths.length ? redact(payload, paths) : payload);
}

/** Rebuilds a queue item from the stored event (a repeated ingest, redelivery, replay, the sweeper). */
export function itemFor(event: EventRow, webhook: WebhookRow, deliveryId: string, attemptCount?: number): QueueItem {
  const payload: Payload = {
    id: event.id,
    type: event.type,
    timestamp: event.timestamp,
    account_id: event.account_id === BROADCAST ? null : event.account_id,
    data: JSON.parse(event.data),
  };
  return {
    delivery_id: deliveryId,
    event_id: event.id,
    event_type: event.type,
    payload: payloadFor(payload, webhook),
    created_at: event.created_at,
    ...(attemptCount !== undefined ? { attempt_count: attemptCount } : {}),
  };
}

/**
 * The hand-offs of these events (listed in their rows) whose delivery D1 does not show finished — pending, or with no
 * row at all (only those, with `missingOnly`) — to webhooks not deleted since. The webhooks are read from the main
 * database, the deliveries from their log shard: `shard`, when the caller knows it (an account's events; one round
 * trip while that is the main database), or else each webhook's own (a broadcast's record lists every account's).
 */
export async function unfinishedHandoffs(
  env: Env,
  events: EventRow[],
  missingOnly = false,
  shard: number | null = null,
): Promise<{ event: EventRow; webhook: WebhookRow; deliveryId: string }[]> {
  type Pair = { event: EventRow; w: string; d: string };
  const pairs: Pair[] = events.flatMap((event) => (JSON.parse(event.handoffs) as [string, string][]).map(([w, d]) => ({ event, w, d })));
  if (pairs.length === 0) return [];
  const status = new Map<string, string>();
  const webhooks = new Map<string, WebhookRow>();
  const deliveriesQuery = (db: D1Database, run: Pair[]) =>
    db
      .prepare(`SELECT webhook_id, id, status FROM deliveries WHERE (webhook_id, id) IN (VALUES ${run.map(() => "(?, ?)").join(",")})`)
      .bind(...run.flatMap((p) => [p.w, p.d]));
  for (const { items, marks } of inLists(pairs, 45)) {
    const hooksQuery = env.DB.prepare(`SELECT * FROM webhooks WHERE id IN (${marks}) AND deleted_at IS NULL`).bind(...items.map((p) => p.w));
    let done: D1Result<Record<string, unknown>>[];
    if (shard !== null) {
      const log = logDb(env, shard);
      const [found, hooks] = await batches([
        { db: log, statements: [deliveriesQuery(log, items)] },
        { db: env.DB, statements: [hooksQuery] },
      ]);
      done = found;
      for (const w of hooks[0].results as unknown as WebhookRow[]) webhooks.set(w.id, w);
    } else {
      for (const w of (await hooksQuery.all<WebhookRow>()).results) webhooks.set(w.id, w);
      const groups = byShard(
        env,
        items.filter((p) => webhooks.has(p.w)),
        (p) => webhooks.get(p.w)!.log_shard,
      );
      done = (await batches(groups.map(({ db, items: run }) => ({ db, statements: [deliveriesQuery(db, run)] })))).flat();
    }
    for (const r of done.flatMap((d) => d.results) as { webhook_id: string; id: string; status: string }[]) status.set(`${r.webhook_id} ${r.id}`, r.status);
  }
  return pairs
    .filter((p) => {
      const st = status.get(`${p.w} ${p.d}`);
      return webhooks.has(p.w) && (st === undefined || (st === "pending" && !missingOnly));
    })
    .map((p) => ({ event: p.event, webhook: webhooks.get(p.w)!, deliveryId: p.d }));
}
