-- A leaner delivery log: fewer index entries written per delivered event (D1 counts each one as a row written).
--
-- * events, deliveries and attempts are WITHOUT ROWID tables keyed by their natural primary key, so the key is the
--   table itself instead of a rowid table plus a separate unique index on the key.
-- * events keep one secondary index, (account_id, created_at, id): the event list (newest first by arrival) and
--   the purge (walked account by account) both use it.
-- * deliveries keep (webhook_id, id) for the lists and for windows (delivery ids begin with their creation
--   millisecond, so "created since t" is an id range); statuses other than 'delivered' are indexed by a partial
--   index, so a delivery leaving it when delivered touches nothing else; (event_id) serves a repeated ingest and
--   the event purge. UNIQUE (webhook_id, event_id) goes: the events primary key, written in the same ingest
--   transaction, already refuses a repeated event before any of its deliveries is inserted.
-- * A first attempt that succeeds is stored in its deliveries row (the first_* columns); every other attempt is
--   an attempts row, as before. attempts are purged by delivery id range, so attempts_started goes.
--
-- Each table is rebuilt: created anew, filled, the old one dropped (with its indexes), the new one renamed.
-- No foreign key points at these tables.

CREATE TABLE events_lean (
  id TEXT NOT NULL PRIMARY KEY,
  account_id TEXT,                         -- NULL for a broadcast (system.maintenance to every account)
  type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  data TEXT NOT NULL,
  deliveries INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO events_lean (id, account_id, type, timestamp, data, deliveries, created_at)
  SELECT id, account_id, type, timestamp, data, deliveries, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_lean RENAME TO events;
-- The event list, newest first by arrival (platform-given ids do not sort by time), and the purge, per account.
CREATE INDEX events_account_created ON events(account_id, created_at, id);

CREATE TABLE deliveries_lean (
  id TEXT NOT NULL PRIMARY KEY,            -- dlv_ + 10 characters of the creation millisecond + 16 random
  webhook_id TEXT NOT NULL,
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
  -- The first attempt, when it succeeded (otherwise it is an attempts row). Last in the row, large ones last, so
  -- reading the columns above never walks a large body's overflow pages.
  first_started_at INTEGER,
  first_duration_ms INTEGER,
  first_status_code INTEGER,
  first_request_headers TEXT,
  first_response_headers TEXT,
  first_response_body TEXT,
  first_request_body TEXT
) WITHOUT ROWID;
INSERT INTO deliveries_lean (id, webhook_id, account_id, event_id, event_type, status, attempt_count, next_attempt_at, last_status_code, last_error,
                             latency_ms, created_at, updated_at, delivered_at)
  SELECT id, webhook_id, account_id, event_id, event_type, status, attempt_count, next_attempt_at, last_status_code, last_error,
         latency_ms, created_at, updated_at, delivered_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_lean RENAME TO deliveries;
-- A webhook's deliveries, newest first, and its windows (stats, replay) as id ranges.
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
-- Everything not delivered, by webhook and status: lists and replays of a status, the sweeper, cancelling on
-- delete. A query uses it only when its WHERE says `status <> 'delivered'` literally.
CREATE INDEX deliveries_open ON deliveries(webhook_id, status, id) WHERE status <> 'delivered';
-- A repeated ingest re-hands an event's pending deliveries; the purge keeps an event while one is pending.
CREATE INDEX deliveries_event ON deliveries(event_id);

CREATE TABLE attempts_lean (
  delivery_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  webhook_id TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  request_headers TEXT NOT NULL,
  request_body TEXT NOT NULL,
  response_headers TEXT,
  response_body TEXT,
  PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
INSERT INTO attempts_lean (delivery_id, number, webhook_id, started_at, duration_ms, status_code, error, request_headers, request_body, response_headers,
                           response_body)
  SELECT delivery_id, number, webhook_id, started_at, duration_ms, status_code, error, request_headers, request_body, response_headers, response_body
  FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_lean RENAME TO attempts;
