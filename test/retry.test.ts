import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { type AttemptResult, backoffDelay, classifyAttempt, DEFAULT_RETRY, parseRetryAfter, type RetryPolicy, scheduleSpanMs } from "../src/delivery/retry";

const middle = () => 0.5; // no jitter
const now = Date.parse("2026-11-27T09:00:00.000Z");
const HOUR = 3_600_000;

describe("backoffDelay", () => {
  test.each([
    [1, 5_000],
    [2, 15_000],
    [3, 45_000],
    [4, 135_000],
    [5, 405_000],
    [8, 10_935_000],
    [9, 32_805_000],
    [10, 36_000_000],
    [11, 36_000_000],
    [500, 36_000_000],
  ])("default schedule after attempt %i waits %i ms", (attempt, expected) => {
    expect(backoffDelay(DEFAULT_RETRY, attempt, middle)).toBe(expected);
  });

  test("jitter spans ±20 %", () => {
    expect(backoffDelay(DEFAULT_RETRY, 1, () => 0)).toBe(4_000);
    expect(backoffDelay(DEFAULT_RETRY, 1, () => 0.999999)).toBe(6_000);
  });

  test("jitter stays within ±20 % and never exceeds max_delay_ms", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const nominal = Math.min(5_000 * 3 ** (attempt - 1), 36_000_000);
        const delay = backoffDelay(DEFAULT_RETRY, attempt, () => r);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.ceil(nominal * 1.2));
        expect(delay).toBeLessThanOrEqual(DEFAULT_RETRY.max_delay_ms);
        expect(Number.isInteger(delay)).toBe(true);
      }),
    );
  });

  test("any policy in the allowed ranges stays within [0, max_delay_ms]", () => {
    const policy = fc
      .record({
        max_attempts: fc.integer({ min: 1, max: 30 }),
        base_delay_ms: fc.integer({ min: 100, max: 10 * HOUR }),
        multiplier: fc.integer({ min: 1, max: 10 }),
        extra: fc.integer({ min: 0, max: 100 * HOUR }),
      })
      .map(({ extra, ...p }): RetryPolicy => ({ ...p, max_delay_ms: p.base_delay_ms + extra }));
    const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
    fc.assert(
      fc.property(policy, fc.integer({ min: 1, max: 30 }), unit, (p, attempt, r) => {
        const delay = backoffDelay(p, attempt, () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(p.max_delay_ms);
      }),
    );
  });
});

describe("scheduleSpanMs", () => {
  test("the default schedule spans about a day and a half", () => {
    const span = scheduleSpanMs(DEFAULT_RETRY);
    expect(span).toBeGreaterThan(30 * HOUR);
    expect(span).toBeLessThan(42 * HOUR);
    // 5+15+45+135+405+1215+3645+10935+32805 s, then two capped waits of 10 h.
    expect(span).toBe(49_205_000 + 2 * 36_000_000);
  });

  test("one attempt means no waiting", () => {
    expect(scheduleSpanMs({ ...DEFAULT_RETRY, max_attempts: 1 })).toBe(0);
  });
});

describe("parseRetryAfter", () => {
  test.each([
    ["30", 30_000],
    [" 30 ", 30_000],
    ["0", 0],
    ["-5", 0],
    ["Fri, 27 Nov 2026 09:01:00 GMT", 60_000],
    ["Friday, 27-Nov-26 09:01:00 GMT", 60_000],
    ["Fri Nov 27 09:01:00 2026", 60_000],
    ["Fri, 27 Nov 2026 08:00:00 GMT", 0],
  ])("%j → %i ms", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  test.each([null, "", "soon", "1.5", "30s", "Fri, 99 Nov 2026 09:01:00 GMT"])("%j → null", (value) => {
    expect(parseRetryAfter(value, now)).toBeNull();
  });
});

function result(status: number, headers?: Record<string, string>): AttemptResult {
  return { status, headers: new Headers(headers) };
}

describe("classifyAttempt", () => {
  test.each([200, 201, 202, 204, 299])("HTTP %i is delivered", (status) => {
    expect(classifyAttempt(result(status), 1, DEFAULT_RETRY, now, middle)).toEqual({ kind: "delivered" });
    expect(classifyAttempt(result(status), 12, DEFAULT_RETRY, now, middle)).toEqual({ kind: "delivered" });
  });

  test.each([
    [301, "HTTP 301 (redirects are not followed)"],
    [302, "HTTP 302 (redirects are not followed)"],
    [307, "HTTP 307 (redirects are not followed)"],
    [400, "HTTP 400"],
    [401, "HTTP 401"],
    [404, "HTTP 404"],
    [429, "HTTP 429"],
    [500, "HTTP 500"],
    [502, "HTTP 502"],
    [503, "HTTP 503"],
  ])("HTTP %i retries with backoff: %s", (status, reason) => {
    const redirect = status >= 300 && status < 400 ? { location: "https://elsewhere.example/" } : undefined;
    expect(classifyAttempt(result(status, redirect), 2, DEFAULT_RETRY, now, middle)).toEqual({
      kind: "retry",
      delayMs: 15_000,
      reason,
    });
  });

  test.each([
    [{ timedOut: true, error: "timed out after 10000 ms" }, "timed out after 10000 ms"],
    [{ timedOut: true }, "timed out"],
    [{ error: "connection refused: 127.0.0.1:9" }, "connection refused: 127.0.0.1:9"],
    [{ error: "DNS lookup failed: no.such.host" }, "DNS lookup failed: no.such.host"],
    [{}, "no response"],
  ])("%j retries: %s", (attempt, reason) => {
    expect(classifyAttempt(attempt, 1, DEFAULT_RETRY, now, middle)).toEqual({ kind: "retry", delayMs: 5_000, reason });
  });

  test.each([429, 503])("HTTP %i honours Retry-After in seconds exactly, without jitter", (status) => {
    expect(classifyAttempt(result(status, { "retry-after": "30" }), 1, DEFAULT_RETRY, now, () => 0)).toEqual({
      kind: "retry",
      delayMs: 30_000,
      reason: `HTTP ${status}, Retry-After 30 s`,
    });
  });

  test("HTTP 503 honours Retry-After as an HTTP-date", () => {
    const outcome = classifyAttempt(result(503, { "retry-after": "Fri, 27 Nov 2026 09:02:00 GMT" }), 3, DEFAULT_RETRY, now, middle);
    expect(outcome).toEqual({ kind: "retry", delayMs: 120_000, reason: "HTTP 503, Retry-After 120 s" });
  });

  test("Retry-After is capped at max_delay_ms", () => {
    const outcome = classifyAttempt(result(429, { "retry-after": "86400" }), 1, DEFAULT_RETRY, now, middle);
    expect(outcome).toEqual({
      kind: "retry",
      delayMs: 36_000_000,
      reason: "HTTP 429, Retry-After 86400 s (capped at 36000 s)",
    });
  });

  test("an unreadable Retry-After falls back to backoff", () => {
    const outcome = classifyAttempt(result(429, { "retry-after": "later" }), 1, DEFAULT_RETRY, now, middle);
    expect(outcome).toEqual({ kind: "retry", delayMs: 5_000, reason: "HTTP 429" });
  });

  test("Retry-After on other statuses is not honoured", () => {
    const outcome = classifyAttempt(result(500, { "retry-after": "3000" }), 1, DEFAULT_RETRY, now, middle);
    expect(outcome).toEqual({ kind: "retry", delayMs: 5_000, reason: "HTTP 500" });
  });

  test.each([1, 11, 12])("HTTP 410 disables the webhook (attempt %i)", (attempt) => {
    const outcome = classifyAttempt(result(410), attempt, DEFAULT_RETRY, now, middle);
    expect(outcome.kind).toBe("disable");
    expect(outcome).toHaveProperty("reason", expect.stringContaining("HTTP 410"));
  });

  test.each<[string, AttemptResult]>([
    ["HTTP 500", result(500)],
    ["HTTP 301 (redirects are not followed)", result(301)],
    ["HTTP 429, Retry-After 30 s", result(429, { "retry-after": "30" })],
    ["timed out after 10000 ms", { timedOut: true, error: "timed out after 10000 ms" }],
    ["connection refused: 10.0.0.1:443", { error: "connection refused: 10.0.0.1:443" }],
  ])("the last attempt gives up: %s", (reason, attempt) => {
    expect(classifyAttempt(attempt, 12, DEFAULT_RETRY, now, middle)).toEqual({
      kind: "give-up",
      reason: `${reason}; no attempts left (12 of 12)`,
    });
  });

  test("the attempt before the last still retries", () => {
    expect(classifyAttempt(result(500), 11, DEFAULT_RETRY, now, middle)).toMatchObject({
      kind: "retry",
      delayMs: 36_000_000,
    });
  });

  test("max_attempts 1 gives up at once", () => {
    const policy = { ...DEFAULT_RETRY, max_attempts: 1 };
    expect(classifyAttempt(result(500), 1, policy, now, middle).kind).toBe("give-up");
  });
});
