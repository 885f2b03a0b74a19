import type { QueueConfig } from "../webhooks/types";

/**
 * The contract of a webhook's queue, the Durable Object that is the only sender: what ingest, the routes and the
 * cron import instead of the class, so that nothing depends on its implementation for a type.
 */

/** One delivery handed to a webhook's queue: the event's payload as this webhook receives it (already redacted). */
export interface QueueItem {
  delivery_id: string;
  event_id: string;
  event_type: string;
  /** The JSON payload, exactly as it will be signed and sent. */
  payload: string;
  /** When the event was accepted (ms): the start of its end-to-end latency and of its ttl. */
  created_at: number;
  /** Attempts already made (a redelivery continues the numbering, so every attempt keeps its own log record). */
  attempt_count?: number;
  /** The x-broxiai-sequence it was first sent with: a redelivery of a finished delivery goes out under it again. */
  sequence?: number;
  /** Made by this very ingest (its id is new), so no queue can hold it yet: enqueue skips looking it up. */
  fresh?: boolean;
}

/** The answer to a synchronous test send. */
export interface TestResult {
  ok: boolean;
  status_code: number | null;
  duration_ms: number;
  response_body: string | null;
  error: string | null;
}

/** What an operator needs to know about one queue. Reading it changes nothing. */
export interface QueueStatus {
  /** Deliveries still to make (waiting, or sent and not yet logged). */
  queued: number;
  /** When the oldest of them was handed over (ms), or null. */
  oldest_at: number | null;
  /** When the next attempt is due (ms), or null when nothing is due (the queue is empty, or the webhook off). */
  next_attempt_at: number | null;
  /** The last x-broxiai-sequence used, or null before the first delivery. */
  last_sequence: number | null;
  /** Log statements waiting in the outbox for D1 (non-zero only while D1 has been refusing writes). */
  outbox: number;
  /** When the alarm is set to fire, or null. */
  alarm: number | null;
  /** Whether the queue sends (false: the webhook is inactive, disabled or deleted; deliveries are held). */
  active: boolean | null;
  /** Until when a 429 from the receiver pauses the endpoint (ms), or null. */
  paused_until: number | null;
  /** Since when every attempt has failed (ms), or null. */
  failing_since: number | null;
}

/** What a person chose for the deliveries held while a webhook was off, on enabling it again. */
export type HeldChoice = "deliver" | "discard";

/** The webhook's health as its queue sees it: the API's `failing` and `held` come from here. */
export interface QueueHealth {
  /** Since when every attempt has failed (ms), or null. */
  failing_since: number | null;
  /** Failed attempts in a row, across its deliveries. */
  consecutive_failures: number;
  last_status_code: number | null;
  last_error: string | null;
  /** Deliveries held while the webhook is off, or null while it is on. */
  held: number | null;
  /** Held deliveries expired past MAX_HELD_PER_WEBHOOK since it went off. */
  held_expired: number;
}

/** The queue's RPC methods, as the Durable Object implements them. */
export interface QueueRpc extends Rpc.DurableObjectBranded {
  /** Stores the webhook's settings (newer wins) and applies what changed: held deliveries resume, deletes cancel. */
  configure(cfg: QueueConfig): Promise<void>;
  /** Accepts deliveries, durably, idempotent on delivery id; an idle queue starts sending them at once. */
  enqueue(cfg: QueueConfig, items: QueueItem[]): Promise<{ accepted: number }>;
  /**
   * Before a webhook that is off is enabled again: "discard" cancels every delivery it held (deliver needs nothing,
   * the enabling configure sends them in order). Answers how many were cancelled.
   */
  releaseHeld(cfg: QueueConfig, choice: HeldChoice): Promise<{ discarded: number }>;
  /** The webhook's health and what it holds. Reading it changes nothing. */
  health(): Promise<QueueHealth>;
  /** Redelivers now: a waiting delivery skips its backoff, a finished one goes out again under its first number. */
  redeliver(cfg: QueueConfig, items: QueueItem[]): Promise<{ requeued: number }>;
  /**
   * Whether a test send may go now: the test route's documented rate, and the webhook's rate_limit_per_s, which test
   * sends share with deliveries. Answers the milliseconds to wait; 0 means go, and both are taken.
   */
  reserveTest(cfg: QueueConfig): Promise<number>;
  /** Sends one event now, outside the queue, and answers what the receiver said. */
  sendTest(cfg: QueueConfig, item: QueueItem): Promise<TestResult>;
  /**
   * Makes every waiting delivery due now, skipping what is left of its backoff, in its order (a relay's CLI has just
   * connected); held deliveries stay held. Answers how many were waiting.
   */
  retryNow(): Promise<{ due: number }>;
  /** What the queue holds now. */
  status(): Promise<QueueStatus>;
  /** Makes sure whatever is due gets sent and the log reaches D1 (the cron calls it). */
  sweep(): Promise<void>;
}
