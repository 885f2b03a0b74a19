-- Deliveries keyed by their webhook: two index entries fewer written per delivery (D1 counts each as a row written).
--
-- * The primary key becomes (webhook_id, id), so a webhook's deliveries, newest first, and its windows (stats,
--   replay: delivery ids begin with their creation millisecond) are ranges of the table itself, and the separate
--   (webhook_id, id) index goes. A lookup by id alone (GET /v1/deliveries/{id}) goes through the account's
--   webhooks: one primary-key probe per webhook.
-- * The (event_id) index goes. What used it looks for an event's deliveries that are still pending. They were made
--   in the event's creation millisecond, so a repeated ingest reads that millisecond's range of the key for each
--   webhook of the event's account, and the purge walks deliveries_open for the pending ones past retention.
-- * deliveries_open stays as it was: everything not delivered, by webhook and status.
--
-- The table is rebuilt: created anew, filled, the old one dropped (with its indexes), the new one renamed.

CREATE TABLE deliveries_by_webhook (
  webhook_id TEXT NOT NULL,
  id TEXT NOT NULL,                        -- dlv_ + 10 characters of the creation millisecond + 16 random
  account_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed | cancelled | expired
  attempt_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_status_code INTEGER,
  last_error TEXT,
  latency_ms INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  delivered_at INTEGER,
  -- The first attempt, when it succeeded (otherwise it is an attempts row). Last in the row, large ones last.
  first_started_at INTEGER,
  first_duration_ms INTEGER,
  first_status_code INTEGER,
  first_request_headers TEXT,
  first_response_headers TEXT,
  first_response_body TEXT,
  first_request_body TEXT,
  PRIMARY KEY (webhook_id, id)
) WITHOUT ROWID;
INSERT INTO deliveries_by_webhook (webhook_id, id, account_id, event_id, event_type, status, attempt_count, next_attempt_at, last_status_code, last_error,
                                   latency_ms, created_at, updated_at, delivered_at, first_started_at, first_duration_ms, first_status_code,
                                   first_request_headers, first_response_headers, first_response_body, first_request_body)
  SELECT webhook_id, id, account_id, event_id, event_type, status, attempt_count, next_attempt_at, last_status_code, last_error,
         latency_ms, created_at, updated_at, delivered_at, first_started_at, first_duration_ms, first_status_code,
         first_request_headers, first_response_headers, first_response_body, first_request_body
  FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_by_webhook RENAME TO deliveries;
-- Everything not delivered, by webhook and status: lists and replays of a status, the sweeper, cancelling on
-- delete, a repeated ingest, the event purge. A query uses it only when its WHERE says `status <> 'delivered'`.
CREATE INDEX deliveries_open ON deliveries(webhook_id, status, id) WHERE status <> 'delivered';
