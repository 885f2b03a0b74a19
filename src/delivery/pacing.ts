import type { QueueConfig } from "../webhooks/store";
import { readMeta, writeMeta } from "./store";

/**
 * Pacing: the webhook's `rate_limit_per_s` as a token bucket (bursts of one second's worth), and the pause a `429`
 * from the receiver puts on the whole endpoint. The pause is stored, so it outlives an eviction; the bucket is
 * memory only (a wake-up starts it empty, which errs on the slow side).
 */
export class Pacing {
  readonly #sql: SqlStorage;
  #tokens = 0;
  #tokensAt = 0;
  #pausedUntil: number;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#pausedUntil = readMeta<number>(sql, "paused_until") ?? 0;
  }

  /** Until when the endpoint is paused (0: not paused). */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** A receiver asking us to slow down pauses the whole endpoint, not only the delivery it answered. */
  pause(until: number): void {
    this.#pausedUntil = until;
    writeMeta(this.#sql, "paused_until", until);
  }

  /** How many of `wanted` requests may go now. */
  take(cfg: QueueConfig, wanted: number, now: number): number {
    if (this.#pausedUntil > now) return 0;
    const rate = cfg.rate_limit_per_s;
    if (!rate) return wanted;
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) / 1000) * rate);
    this.#tokensAt = now;
    const n = Math.min(wanted, Math.floor(this.#tokens));
    this.#tokens -= n;
    return n;
  }

  /** The earliest a unit due at `due` may go: after the pause, and once the bucket has a token. */
  notBefore(cfg: QueueConfig, due: number): number {
    let at = Math.max(due, this.#pausedUntil);
    if (cfg.rate_limit_per_s && this.#tokens < 1) at = Math.max(at, this.#tokensAt + ((1 - this.#tokens) * 1000) / cfg.rate_limit_per_s);
    return at;
  }
}
