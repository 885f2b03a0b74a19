// The test route sends synchronously and answers what the receiver said, so unthrottled it would be a proxy:
// anyone with a key could make the service hammer a URL and read the answers. Each webhook's test sends are a
// token bucket of their own, documented in README.md; the queue also makes them share rate_limit_per_s.

/** The documented rate: this many test sends per webhook per minute… */
export const TEST_SENDS_PER_MINUTE = 10;
/** …and at most this many back to back. */
export const TEST_SEND_BURST = 5;

/** One webhook's test-send bucket; the caller passes the clock, so it is tested without waiting. */
export class TestThrottle {
  #tokens = TEST_SEND_BURST;
  #at: number | null = null;

  /** Milliseconds until a test send may go (0: now); takes nothing. */
  wait(now: number): number {
    this.#refill(now);
    // Rounded to the microsecond first, so floating-point dust does not add a millisecond.
    return this.#tokens >= 1 ? 0 : Math.ceil(Math.round(((1 - this.#tokens) * 60_000_000) / TEST_SENDS_PER_MINUTE) / 1000);
  }

  /** Takes one test send (after wait() said 0). */
  take(now: number): void {
    this.#refill(now);
    this.#tokens -= 1;
  }

  #refill(now: number): void {
    if (this.#at !== null) this.#tokens = Math.min(TEST_SEND_BURST, this.#tokens + ((now - this.#at) / 60_000) * TEST_SENDS_PER_MINUTE);
    this.#at = now;
  }
}
