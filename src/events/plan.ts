import type { Env } from "../config";
import type { QueueItem } from "../delivery/contract";
import { pendingStatement, prepared } from "../delivery/log";
import { queueOf } from "../delivery/queue-stub";
import { type Problem, problemBody } from "../http/problem";
import { logDb } from "../shards";
import { toQueueConfig } from "../webhooks/store";
import type { WebhookRow } from "../webhooks/types";

/** What ingest answers for one event. */
export type IngestResult = { status: 200 | 202; body: { id: string; deliveries: number } } | { status: number; error: Problem };

/**
 * One ingest call's answers and hand-offs: each event's answer by its place in the call, and what goes to each
 * webhook's queue (one RPC per webhook for the whole call, its items in order).
 */
export class HandoffPlan {
  readonly results: IngestResult[];
  readonly #byWebhook = new Map<string, { webhook: WebhookRow; items: QueueItem[]; indexes: number[] }>();
  /** An id sent twice in one call is one event: the later copies get the first copy's answer, once its hand-off is done. */
  readonly #copies: [index: number, first: number][] = [];

  constructor(size: number) {
    this.results = new Array(size);
  }

  answer(index: number, result: IngestResult): void {
    this.results[index] = result;
  }

  sameAs(index: number, first: number): void {
    this.#copies.push([index, first]);
  }

  add(webhook: WebhookRow, item: QueueItem, index: number): void {
    let h = this.#byWebhook.get(webhook.id);
    if (!h) this.#byWebhook.set(webhook.id, (h = { webhook, items: [], indexes: [] }));
    h.items.push(item);
    h.indexes.push(index);
  }

  /**
   * Hands every delivery to its webhook's queue; the answers stand once every hand-off is durable. If a hand-off
   * fails the event is already stored and the deliveries are written pending: the platform's retry with the same id
   * finds it and re-hands them (the queue ignores what it holds), and answers 200; without a retry, the cron sweeper
   * does the same. Nothing is lost.
   */
  async handOff(env: Env): Promise<IngestResult[]> {
    await Promise.all(
      [...this.#byWebhook.values()].map(async ({ webhook, items, indexes }) => {
        try {
          await queueOf(env, webhook.id).enqueue(toQueueConfig(webhook), items);
        } catch (err) {
          console.error("hand-off to webhook queue failed", webhook.id, err instanceof Error ? err.message : String(err));
          try {
            const now = Date.now();
            const log = logDb(env, webhook.log_shard);
            await log.batch(items.map((it) => prepared(log, pendingStatement(webhook.id, webhook.account_id, it, it.created_at, now))));
          } catch (e) {
            console.error("could not record the lost hand-off", webhook.id, e instanceof Error ? e.message : String(e));
          }
          for (const i of indexes) {
            this.results[i] = {
              status: 503,
              error: problemBody(503, "The event is stored but could not be handed to every webhook yet; send it again with the same id."),
            };
          }
        }
      }),
    );
    for (const [index, first] of this.#copies) {
      const r = this.results[first];
      this.results[index] = "error" in r ? r : { status: 200, body: r.body };
    }
    return this.results;
  }
}
