import type { QueueConfig } from "../webhooks/types";
import { type AttemptLog, type LogStatement, logStatements } from "./log";
import { classifyAttempt, type Outcome } from "./retry";
import type { Row } from "./rows";
import type { SentAttempt } from "./send";

/**
 * Outcome: what one attempt means, as data — pure, so every rule about a result is here and testable alone. The
 * scheduler applies it: the rows' next state, the endpoint's pause, the webhook's failing clock, and the log.
 */

export interface Judgement {
  outcome: Outcome;
  /** The log of this attempt (and, for a disable, of the webhook's new state), in order. */
  statements: LogStatement[];
  /** Since when the webhook has been failing, after this attempt (null: it is not). */
  failingSince: number | null;
  /** Pause the whole endpoint until then (a 429 with attempts left), or null. */
  pauseUntil: number | null;
}

/** Why an attempt failed, in the words the log shows. */
export function failureReason(sent: SentAttempt): string {
  const r = sent.result;
  if (r.error) return r.error;
  if (r.status !== undefined && r.status >= 300 && r.status < 400) return `HTTP ${r.status} (redirects are not followed)`;
  return `HTTP ${r.status}`;
}

/** The attempt as the delivery log records it. */
export function attemptLog(sent: SentAttempt, number: number, headers: Record<string, string>, body: string): AttemptLog {
  const ok = sent.result.status !== undefined && sent.result.status >= 200 && sent.result.status < 300;
  return {
    number,
    startedAt: sent.startedAt,
    durationMs: sent.durationMs,
    statusCode: sent.result.status ?? null,
    error: ok ? null : failureReason(sent),
    requestHeaders: headers,
    requestBody: body,
    responseHeaders: sent.responseHeaders,
    responseBody: sent.responseBody,
  };
}

/**
 * Judges one attempt of a unit. A webhook that has failed without a single success for `disableAfterMs` is disabled
 * (its deliveries held, not dropped); `410 Gone` disables it at once (classifyAttempt).
 */
export function judge(input: {
  cfg: QueueConfig;
  rows: Row[];
  sent: SentAttempt;
  attempt: AttemptLog;
  now: number;
  failingSince: number | null;
  disableAfterMs: number;
  random: () => number;
}): Judgement {
  const { cfg, rows, sent, attempt, now } = input;
  let outcome = classifyAttempt(sent.result, attempt.number, cfg.retry, now, input.random);
  let failingSince: number | null = null;
  if (outcome.kind !== "delivered") {
    failingSince = input.failingSince ?? now;
    if (outcome.kind !== "disable" && now - failingSince >= input.disableAfterMs) {
      outcome = { kind: "disable", reason: `no successful delivery for ${Math.round((now - failingSince) / 3_600_000)} h (last: ${outcome.reason})` };
    }
  }
  const statements = logStatements({ webhookId: cfg.webhook_id, accountId: cfg.account_id, deliveries: rows, attempt, outcome });
  if (outcome.kind === "disable") {
    statements.push({
      // Guarded by time: replayed late from the outbox, it must not undo the customer re-enabling the webhook since.
      sql: "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL AND updated_at <= ?",
      params: [outcome.reason, now, cfg.webhook_id, now],
      db: "main",
    });
  }
  const pauseUntil = sent.result.status === 429 && outcome.kind === "retry" ? now + outcome.delayMs : null;
  return { outcome, statements, failingSince, pauseUntil };
}
