import type { Outcome } from "./retry";

/** A D1 statement kept as data, so it can wait in a queue's outbox and be replayed later in order. */
export interface LogStatement {
  sql: string;
  params: (string | number | null)[];
}

/** One attempt as the delivery log records it. */
export interface AttemptLog {
  number: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  requestHeaders: Record<string, string>;
  requestBody: string;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
}

const STATUS: Record<Outcome["kind"], string> = { delivered: "delivered", "give-up": "failed", retry: "pending", disable: "pending" };

/**
 * The D1 writes that record one attempt and its outcome, for each delivery it carried (a batch carries many).
 * Every statement is idempotent (INSERT OR REPLACE, UPDATE by key), so replaying an outbox twice is harmless.
 *
 * A first attempt that succeeds (the common case) is one UPDATE of the deliveries row, which keeps that attempt in
 * its first_* columns; every other attempt is an attempts row plus the UPDATE. GET /v1/deliveries/{id} puts the two
 * back together.
 */
export function logStatements(input: { webhookId: string; deliveryIds: string[]; attempt: AttemptLog; outcome: Outcome; createdAt: number }): LogStatement[] {
  const { attempt, outcome } = input;
  const finishedAt = attempt.startedAt + attempt.durationMs;
  const nextAttemptAt = outcome.kind === "retry" ? finishedAt + outcome.delayMs : null;
  const requestHeaders = JSON.stringify(attempt.requestHeaders);
  const responseHeaders = attempt.responseHeaders ? JSON.stringify(attempt.responseHeaders) : null;
  const inline = attempt.number === 1 && outcome.kind === "delivered" && attempt.error === null;
  const status = (id: string, inlineFirst: boolean): LogStatement => ({
    // attempt_count only grows: a replayed older statement never rolls a newer one back.
    sql: `UPDATE deliveries SET status = CASE WHEN attempt_count > ? THEN status ELSE ? END,
              attempt_count = max(attempt_count, ?), next_attempt_at = CASE WHEN attempt_count > ? THEN next_attempt_at ELSE ? END,
              last_status_code = ?, last_error = ?, updated_at = ?,
              delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,
              latency_ms = CASE WHEN ? = 'delivered' THEN ? ELSE latency_ms END${
                inlineFirst
                  ? `,
              first_started_at = ?, first_duration_ms = ?, first_status_code = ?, first_request_headers = ?, first_response_headers = ?,
              first_response_body = ?, first_request_body = ?`
                  : ""
              }
            WHERE webhook_id = ? AND id = ?`,
    params: [
      attempt.number,
      STATUS[outcome.kind],
      attempt.number,
      attempt.number,
      nextAttemptAt,
      attempt.statusCode,
      // The outcome's reason says what the attempt's error says and what follows from it ("HTTP 429, Retry-After
      // 30 s", "HTTP 500; no attempts left (12 of 12)"), which is what a person reading the delivery needs.
      outcome.kind === "delivered" ? null : "reason" in outcome ? outcome.reason : attempt.error,
      finishedAt,
      STATUS[outcome.kind],
      finishedAt,
      STATUS[outcome.kind],
      finishedAt - input.createdAt,
      ...(inlineFirst
        ? [attempt.startedAt, attempt.durationMs, attempt.statusCode, requestHeaders, responseHeaders, attempt.responseBody, attempt.requestBody]
        : []),
      input.webhookId,
      id,
    ],
  });
  // The first attempt's own columns are written whatever attempt_count says: attempt 1 never changes once made.
  if (inline) return input.deliveryIds.map((id) => status(id, true));
  return input.deliveryIds.flatMap((id): LogStatement[] => [
    {
      sql: `INSERT OR REPLACE INTO attempts (delivery_id, number, webhook_id, started_at, duration_ms, status_code, error, request_headers, request_body, response_headers, response_body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: [
        id,
        attempt.number,
        input.webhookId,
        attempt.startedAt,
        attempt.durationMs,
        attempt.statusCode,
        attempt.error,
        requestHeaders,
        attempt.requestBody,
        responseHeaders,
        attempt.responseBody,
      ],
    },
    status(id, false),
  ]);
}
