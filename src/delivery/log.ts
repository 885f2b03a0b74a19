import type { Outcome } from "./retry";

/** A D1 statement kept as data, so it can wait in a queue's outbox and be replayed later in order. */
export interface LogStatement {
  sql: string;
  params: (string | number | null)[];
  /** "main": it writes the webhook's own row, in the main database, not the log in the webhook's log shard. */
  db?: "main";
}

/** A log statement ready to run on D1. */
export function prepared(db: D1Database, s: LogStatement): D1PreparedStatement {
  return db.prepare(s.sql).bind(...s.params);
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
 * A delivery as the log needs it to create its row, when its outcome is the first D1 hears of it: the fields a
 * queued row and a queue item both carry, under their names, so either is passed as it is.
 */
export interface LoggedDelivery {
  delivery_id: string;
  event_id: string;
  event_type: string;
  created_at: number;
}

/** The columns a delivery row is created with when the object writes it (see pendingStatement and logStatements). */
const ROW_COLUMNS = "webhook_id, id, account_id, event_id, event_type, created_at";

/**
 * A delivery still to make, as a row of D1 (`pending`, nothing attempted): the object writes it when the delivery
 * has to wait (journal.ts `writePending`). Nothing if D1 has the row already.
 */
export function pendingStatement(webhookId: string, accountId: string, d: LoggedDelivery, nextAttemptAt: number, now: number): LogStatement {
  return {
    sql: `INSERT INTO deliveries (${ROW_COLUMNS}, status, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)
          ON CONFLICT (webhook_id, id) DO NOTHING`,
    params: [webhookId, d.delivery_id, accountId, d.event_id, d.event_type, d.created_at, nextAttemptAt, now],
  };
}

/**
 * A delivery that leaves the queue without a logged attempt (expired, cancelled; a test send that could not be made
 * fails): its row is written with that status, or set to it if D1 has it pending.
 */
export function closedStatement(
  webhookId: string,
  accountId: string,
  d: LoggedDelivery,
  status: "expired" | "cancelled" | "failed",
  error: string | null,
  now: number,
): LogStatement {
  return {
    sql: `INSERT INTO deliveries (${ROW_COLUMNS}, status, last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (webhook_id, id) DO UPDATE SET status = excluded.status, next_attempt_at = NULL, last_error = excluded.last_error,
            updated_at = excluded.updated_at WHERE deliveries.status = 'pending'`,
    params: [webhookId, d.delivery_id, accountId, d.event_id, d.event_type, d.created_at, status, error, now],
  };
}

/**
 * The D1 writes that record one attempt and its outcome, for each delivery it carried (a batch carries many).
 * Every statement is idempotent (INSERT OR REPLACE, upserts by key), so replaying an outbox twice is harmless.
 *
 * A delivery's row is created by its first outcome when D1 does not have it yet (ingest does not write it: the
 * object does, at the outcome or as soon as the delivery has to wait). A first attempt that succeeds (the common
 * case) is that one row, which keeps the attempt in its first_* columns — and, delivered, enters no index; every
 * other attempt is an attempts row plus the upsert. GET /v1/deliveries/{id} puts the two back together.
 */
export function logStatements(input: {
  webhookId: string;
  accountId: string;
  deliveries: LoggedDelivery[];
  attempt: AttemptLog;
  outcome: Outcome;
}): LogStatement[] {
  const { attempt, outcome } = input;
  const finishedAt = attempt.startedAt + attempt.durationMs;
  const nextAttemptAt = outcome.kind === "retry" ? finishedAt + outcome.delayMs : null;
  const requestHeaders = JSON.stringify(attempt.requestHeaders);
  const responseHeaders = attempt.responseHeaders ? JSON.stringify(attempt.responseHeaders) : null;
  const inline = attempt.number === 1 && outcome.kind === "delivered" && attempt.error === null;
  const st = STATUS[outcome.kind];
  // The outcome's reason says what the attempt's error says and what follows from it ("HTTP 429, Retry-After 30 s",
  // "HTTP 500; no attempts left (12 of 12)"), which is what a person reading the delivery needs.
  const lastError = outcome.kind === "delivered" ? null : "reason" in outcome ? outcome.reason : attempt.error;
  const status = (d: LoggedDelivery, inlineFirst: boolean): LogStatement => {
    const deliveredAt = st === "delivered" ? finishedAt : null;
    const latency = st === "delivered" ? finishedAt - d.created_at : null;
    const first = inlineFirst
      ? [attempt.startedAt, attempt.durationMs, attempt.statusCode, requestHeaders, responseHeaders, attempt.responseBody, attempt.requestBody]
      : [];
    const firstColumns = inlineFirst
      ? ", first_started_at, first_duration_ms, first_status_code, first_request_headers, first_response_headers, first_response_body, first_request_body"
      : "";
    return {
      // attempt_count only grows: a replayed older statement never rolls a newer one back.
      sql: `INSERT INTO deliveries (${ROW_COLUMNS}, status, attempt_count, next_attempt_at, last_status_code, last_error, updated_at, delivered_at,
                                    latency_ms${firstColumns})
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?${inlineFirst ? ", ?, ?, ?, ?, ?, ?, ?" : ""})
            ON CONFLICT (webhook_id, id) DO UPDATE SET
              status = CASE WHEN deliveries.attempt_count > excluded.attempt_count THEN deliveries.status ELSE excluded.status END,
              next_attempt_at = CASE WHEN deliveries.attempt_count > excluded.attempt_count THEN deliveries.next_attempt_at ELSE excluded.next_attempt_at END,
              attempt_count = max(deliveries.attempt_count, excluded.attempt_count),
              last_status_code = excluded.last_status_code, last_error = excluded.last_error, updated_at = excluded.updated_at,
              delivered_at = coalesce(excluded.delivered_at, deliveries.delivered_at),
              latency_ms = coalesce(excluded.latency_ms, deliveries.latency_ms)${
                inlineFirst
                  ? `,
              first_started_at = excluded.first_started_at, first_duration_ms = excluded.first_duration_ms,
              first_status_code = excluded.first_status_code, first_request_headers = excluded.first_request_headers,
              first_response_headers = excluded.first_response_headers, first_response_body = excluded.first_response_body,
              first_request_body = excluded.first_request_body`
                  : ""
              }`,
      params: [
        input.webhookId,
        d.delivery_id,
        input.accountId,
        d.event_id,
        d.event_type,
        d.created_at,
        st,
        attempt.number,
        nextAttemptAt,
        attempt.statusCode,
        lastError,
        finishedAt,
        deliveredAt,
        latency,
        ...first,
      ],
    };
  };
  // The first attempt's own columns are written whatever attempt_count says: attempt 1 never changes once made.
  if (inline) return input.deliveries.map((d) => status(d, true));
  return input.deliveries.flatMap((d): LogStatement[] => [
    {
      sql: `INSERT OR REPLACE INTO attempts (delivery_id, number, webhook_id, started_at, duration_ms, status_code, error, request_headers, request_body, response_headers, response_body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: [
        d.delivery_id,
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
    status(d, false),
  ]);
}
