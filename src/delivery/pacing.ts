import { TestThrottle } from "../webhooks/test-throttle";
import type { QueueConfig } from "../webhooks/types";
import { readMeta, writeMeta } from "./meta";

/**
 * Pacing: the webhook's `rate_limit_per_s` as a token bucket (bursts of one second's worth), the pause a `429` from
 * the receiver puts on the whole endpoint, and the test route's own rate. The pause is stored, so it outlives an
 * eviction; the buckets are memory only (a wake-up refills them).
 */
export class Pacing {
  readonly #sql: SqlStorage;
  #tokens = 0;
  #tokensAt = 0;
  #pausedUntil: number;
  readonly #tests = new TestThrottle();

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
    return this.#pausedUntil > now ? 0 : this.#bucket(cfg, wanted, now);
  }

  /**
   * Whether a test send may go now: the test route's rate, and rate_limit_per_s, which test sends share with
   * deliveries (a 429 pause does not stop a person's test). The milliseconds to wait; 0 means go, and both are taken.
   */
  reserveTest(cfg: QueueConfig, now: number): number {
    const wait = this.#tests.wait(now);
    if (wait > 0) return wait;
    if (this.#bucket(cfg, 1, now) < 1) return Math.ceil(((1 - this.#tokens) * 1000) / (cfg.rate_limit_per_s ?? 1));
    this.#tests.take(now);
    return 0;
  }

  #bucket(cfg: QueueConfig, wanted: number, now: number): number {
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
