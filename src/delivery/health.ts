import { readMeta, writeMeta } from "./meta";

/** The webhook's health as its queue keeps it. */
export interface HealthState {
  /** Since when every attempt has failed (ms), or null. */
  since: number | null;
  /** Failed attempts in a row, across the webhook's deliveries. */
  failures: number;
  lastStatusCode: number | null;
  lastError: string | null;
  /** When the last `webhook.failing` was owed in this spell of failures (ms), or null: none yet. */
  failingAlertAt: number | null;
  /**
   * The spell of failures a failing or disabled alert reported, or null: the next success is reported as
   * `webhook.recovered` with it. It outlives a re-enable (which restarts the count): the spell is the same outage.
   */
  reported: { since: number | null; failures: number } | null;
}

const HEALTHY: HealthState = { since: null, failures: 0, lastStatusCode: null, lastError: null, failingAlertAt: null, reported: null };

/**
 * The webhook's health as its queue sees it: since when and how many times in a row its attempts have failed, and
 * which alerts that spell has owed. Stored (one meta row), so a wake-up keeps counting toward
 * DISABLE_AFTER_FAILING_HOURS; written only when it changes, so a healthy webhook writes nothing.
 */
export class Health {
  readonly #sql: SqlStorage;
  #state: HealthState;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#state = readMeta<HealthState>(sql, "health") ?? HEALTHY;
  }

  get failingSince(): number | null {
    return this.#state.since;
  }

  get state(): Readonly<HealthState> {
    return this.#state;
  }

  /** One failed attempt: the counts grow, the clock starts if it was not running (`since` as the judgement says). */
  failed(since: number, statusCode: number | null, error: string | null): void {
    const r = this.#state.reported;
    this.#write({
      ...this.#state,
      since,
      failures: this.#state.failures + 1,
      lastStatusCode: statusCode,
      lastError: error,
      reported: r && { ...r, failures: r.failures + 1 },
    });
  }

  /** A success: healthy again (whatever recovery it owed is the caller's to report first). */
  succeeded(): void {
    if (this.#state.failures !== 0 || this.#state.since !== null || this.#state.reported) this.#write({ ...HEALTHY });
  }

  /** An alert reported this spell (a failing alert at `failingAt`, or a disable): its recovery will be worth reporting. */
  alerted(failingAt: number | null = this.#state.failingAlertAt): void {
    const s = this.#state;
    this.#write({ ...s, failingAlertAt: failingAt, reported: s.reported ?? { since: s.since, failures: s.failures } });
  }

  /** The webhook is enabled again: the failing clock and the count start over; a recovery still owed stays owed. */
  restart(): void {
    if (this.#state.since !== null || this.#state.failures !== 0) this.#write({ ...HEALTHY, reported: this.#state.reported });
  }

  #write(next: HealthState): void {
    this.#state = next;
    writeMeta(this.#sql, "health", next);
  }
}
