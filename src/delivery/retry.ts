/** A webhook's retry settings (SPEC "Delivery semantics"); `max_attempts` counts the first attempt too. */
export interface RetryPolicy {
  max_attempts: number;
  base_delay_ms: number;
  multiplier: number;
  max_delay_ms: number;
}

/** 5 s, 15 s, 45 s … capped at 10 h, twelve attempts: about a day and a half before a delivery is dead-lettered. */
export const DEFAULT_RETRY: RetryPolicy = {
  max_attempts: 12,
  base_delay_ms: 5000,
  multiplier: 3,
  max_delay_ms: 36_000_000,
};

// ±20 % spreads the retries of many deliveries that failed together (a receiver outage) so they do not all
// come back in the same second.
const JITTER = 0.2;

function undelayed(policy: RetryPolicy, attempt: number): number {
  const n = Math.max(1, Math.floor(attempt));
  // Math.min also absorbs an overflow to Infinity for large attempt numbers.
  return Math.min(policy.base_delay_ms * policy.multiplier ** (n - 1), policy.max_delay_ms);
}

/** Delay before the attempt after attempt n (n ≥ 1): min(base·multiplier^(n-1), max) jittered ±20 % with random() in [0,1) — random injected for tests; never above max_delay_ms, never below 0. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = undelayed(policy, attempt) * (1 + (2 * r - 1) * JITTER);
  return Math.round(Math.min(Math.max(jittered, 0), policy.max_delay_ms));
}

/** Parses a Retry-After header (delta-seconds or HTTP-date) into ms from now; null when absent or unparseable; negative → 0. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^-?\d+$/.test(text)) {
    return Math.min(Math.max(Number(text) * 1000, 0), Number.MAX_SAFE_INTEGER);
  }
  // Every HTTP-date form (IMF-fixdate, RFC 850, asctime) names a month; requiring a letter keeps Date.parse,
  // which is lenient, from reading "1.5" or "30s" as a date.
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(at - now, 0);
}

/** What one attempt's outcome means for its delivery. */
export type Outcome =
  | { kind: "delivered" }
  | { kind: "retry"; delayMs: number; reason: string }
  | { kind: "give-up"; reason: string } // the delivery is dead-lettered (status failed)
  | { kind: "disable"; reason: string }; // 410 Gone: the webhook is disabled, the delivery held (stays pending)

/**
 * What one HTTP attempt produced, as the sender saw it: a response `status` (and its headers), or no response
 * with `error` as a readable sentence ("connection refused: …", "timed out after 10000 ms").
 */
export interface AttemptResult {
  status?: number;
  headers?: Headers;
  error?: string;
  timedOut?: boolean;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/** Why the attempt failed, and the Retry-After delay when the receiver asked for one. */
function failure(result: AttemptResult, policy: RetryPolicy, now: number): { reason: string; retryAfterMs?: number } {
  const status = result.status;
  if (status === undefined) {
    if (result.timedOut) return { reason: result.error ?? "timed out" };
    return { reason: result.error ?? "no response" };
  }
  if (status >= 300 && status < 400) return { reason: `HTTP ${status} (redirects are not followed)` };
  if (status === 429 || status === 503) {
    const header = result.headers?.get("retry-after") ?? null;
    const wait = parseRetryAfter(header, now);
    if (wait !== null) {
      const capped = Math.min(wait, policy.max_delay_ms);
      const note = capped < wait ? ` (capped at ${seconds(policy.max_delay_ms)})` : "";
      return { reason: `HTTP ${status}, Retry-After ${seconds(wait)}${note}`, retryAfterMs: capped };
    }
  }
  return { reason: `HTTP ${status}` };
}

/** The single place where an attempt's result is classified: 2xx delivered; 3xx a failure (redirects are never followed); 410 disable; 429/503 honour Retry-After exactly, capped at max_delay_ms, else backoff; other 4xx/5xx, timeouts and network errors retry; when attempt ≥ max_attempts any failure is give-up (except 410 → disable). */
export function classifyAttempt(result: AttemptResult, attempt: number, policy: RetryPolicy, now: number, random: () => number): Outcome {
  const status = result.status;
  if (status !== undefined && status >= 200 && status < 300) return { kind: "delivered" };
  // 410 is the receiver saying the endpoint is gone for good: stop the whole webhook and hold its queue, rather
  // than burn the remaining attempts and dead-letter deliveries the customer may still want once they fix it.
  if (status === 410) {
    return { kind: "disable", reason: "HTTP 410 Gone (the receiver says this endpoint no longer exists)" };
  }
  const { reason, retryAfterMs } = failure(result, policy, now);
  if (attempt >= policy.max_attempts) {
    return { kind: "give-up", reason: `${reason}; no attempts left (${attempt} of ${policy.max_attempts})` };
  }
  return { kind: "retry", delayMs: retryAfterMs ?? backoffDelay(policy, attempt, random), reason };
}

/** Total time the default schedule spans (for docs/tests): sum of un-jittered delays for attempts 1..max_attempts-1. */
export function scheduleSpanMs(policy: RetryPolicy): number {
  let total = 0;
  for (let n = 1; n < policy.max_attempts; n++) total += undelayed(policy, n);
  return total;
}
