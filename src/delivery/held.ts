import type { QueueConfig } from "../webhooks/types";
import type { Journal } from "./journal";
import { readMeta, writeMeta } from "./meta";
import type { Row } from "./rows";
import type { QueueSettings } from "./seams";
import type { QueueStore } from "./store";

/** Rows expired or discarded per statement page, so one step never holds a huge result in memory. */
const PAGE = 500;

/**
 * Held deliveries: what a webhook that is off (inactive or disabled) keeps for when it is enabled again. The rows are
 * the store's like any other, waiting in order under their own sequence numbers; this part bounds them:
 *
 * - at most `maxHeld` (MAX_HELD_PER_WEBHOOK): past it, the oldest waiting rows expire, counted;
 * - none older than `retentionMs` (LOG_RETENTION_DAYS): a row held while the webhook is off expires then, as its log
 *   would be purged anyway (through the store's expiry, like ttl_s, so the alarm wakes for it);
 * - and, on enabling, the person's choice: deliver them in order (nothing to do here) or discard them as cancelled.
 */
export class Held {
  readonly #sql: SqlStorage;
  readonly #store: QueueStore;
  readonly #journal: Journal;
  readonly #settings: QueueSettings;
  #expired: number;

  constructor(sql: SqlStorage, store: QueueStore, journal: Journal, settings: QueueSettings) {
    this.#sql = sql;
    this.#store = store;
    this.#journal = journal;
    this.#settings = settings;
    this.#expired = readMeta<number>(sql, "held_expired") ?? 0;
  }

  /** Deliveries expired past the bound since the webhook last went off. */
  get expired(): number {
    return this.#expired;
  }

  /** When a row handed over while the webhook is off expires: its ttl_s, or the retention, whichever comes first. */
  expiresAt(cfg: QueueConfig, createdAt: number): number {
    const retention = createdAt + this.#settings.retentionMs;
    return cfg.ttl_s ? Math.min(createdAt + cfg.ttl_s * 1000, retention) : retention;
  }

  /** Why a row expired, in the words its delivery shows. */
  expiryReason(cfg: QueueConfig, row: Row): string {
    const byTtl = cfg.ttl_s !== null && row.expires_at !== null && row.created_at + cfg.ttl_s * 1000 <= row.expires_at;
    return byTtl ? "not delivered within ttl_s" : "held while the webhook was off for longer than LOG_RETENTION_DAYS";
  }

  /** The webhook went off: what it owes is held from now, within the retention and the bound. */
  wentOff(cfg: QueueConfig, now: number): void {
    this.#setExpired(0);
    this.#store.capExpiry(this.#settings.retentionMs);
    this.trim(cfg, now);
  }

  /**
   * Keeps at most `maxHeld` rows owed: the oldest waiting ones past it expire. Rows above the mark are all owed, so
   * while their numbers span no more than the bound nothing needs counting (the usual case costs no read).
   */
  trim(cfg: QueueConfig, now: number): void {
    const bound = this.#settings.maxHeld;
    const last = this.#store.last ?? 0;
    if (last - this.#store.done <= bound) return;
    // The bound-th newest owed row: everything waiting below it goes.
    const keepFrom = this.#sql
      .exec<{ seq: number }>("SELECT seq FROM queue WHERE seq > ? ORDER BY seq DESC LIMIT 1 OFFSET ?", this.#store.done, bound - 1)
      .toArray()[0]?.seq;
    if (keepFrom === undefined) return;
    const reason = `held while the webhook was off, past the bound of ${bound} (MAX_HELD_PER_WEBHOOK); the oldest expire first`;
    this.#setExpired(this.#expired + this.#closeBelow(cfg, keepFrom, "expired", reason, now));
  }

  /** The person chose to discard what was held: every waiting row is cancelled. Answers how many. */
  discard(cfg: QueueConfig, now: number): number {
    return this.#closeBelow(cfg, Number.MAX_SAFE_INTEGER, "cancelled", "discarded when the webhook was enabled again", now);
  }

  /** Closes the waiting rows numbered below `below`, oldest first, a page at a time; answers how many. */
  #closeBelow(cfg: QueueConfig, below: number, status: "expired" | "cancelled", reason: string, now: number): number {
    let closed = 0;
    for (;;) {
      const w = this.#store.waiting();
      const rows = this.#sql.exec<Row>(`SELECT * FROM queue WHERE seq < ? AND ${w.where} ORDER BY seq LIMIT ?`, below, ...w.args, PAGE).toArray();
      this.#journal.close(cfg, rows, status, reason, now);
      closed += rows.length;
      if (rows.length < PAGE) return closed;
    }
  }

  #setExpired(n: number): void {
    if (n === this.#expired) return;
    this.#expired = n;
    writeMeta(this.#sql, "held_expired", n);
  }
}
