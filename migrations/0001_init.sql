-- BroxiAI Webhooks: the durable record of accounts, keys, subscriptions, events, deliveries and attempts.
-- Times are integer milliseconds since the epoch; JSON columns hold text.
--
-- D1 bills rows written and counts every index entry a statement touches as one, so the log's tables (events,
-- deliveries, attempts) are WITHOUT ROWID tables keyed by what they are looked up by, with as few secondary
-- indexes as their queries need (docs/ARCHITECTURE.md, "The log's tables").
--
-- Every database gets this schema: the main one (binding DB) and each further log shard (LOG_DB_1, …). Accounts, keys
-- and webhooks live in the main database only; an account's log lives in its shard (src/shards.ts), so a shard's
-- accounts, api_keys and webhooks tables stay empty. Shard 0 is the main database itself.

CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- Grows with every write to the account's webhooks (the triggers below), so that ingest's cache of which webhooks an
  -- account has knows when it is stale (src/webhooks/subscriptions.ts).
  webhooks_version INTEGER NOT NULL DEFAULT 0,
  -- The log shard holding this account's events, deliveries and attempts: hash(id) mod LOG_SHARDS when it was created,
  -- kept, so raising LOG_SHARDS later moves no one.
  log_shard INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,           -- SHA-256 hex of the key; the key itself is never stored
  allowed_ips TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  headers TEXT NOT NULL DEFAULT '{}',
  filter TEXT,
  ordering TEXT NOT NULL DEFAULT 'strict',
  ordering_key TEXT,
  retry TEXT NOT NULL,
  timeout_ms INTEGER NOT NULL,
  rate_limit_per_s INTEGER,
  batch TEXT,
  format TEXT NOT NULL DEFAULT 'json',
  redact TEXT NOT NULL DEFAULT '[]',
  ttl_s INTEGER,
  signing TEXT NOT NULL DEFAULT 'hmac',
  public_key TEXT,
  secrets TEXT NOT NULL,                   -- AES-GCM ciphertexts of the signing keys, newest first, with expiry
  log_shard INTEGER NOT NULL DEFAULT 0,    -- its account's log shard, so its queue and the routes need no lookup
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER                       -- webhooks are only soft-deleted, so every delivery keeps its webhook's row
);
CREATE INDEX webhooks_account ON webhooks(account_id, deleted_at, id);
CREATE TRIGGER webhooks_added AFTER INSERT ON webhooks BEGIN
  UPDATE accounts SET webhooks_version = webhooks_version + 1 WHERE id = NEW.account_id;
END;
CREATE TRIGGER webhooks_changed AFTER UPDATE ON webhooks BEGIN
  UPDATE accounts SET webhooks_version = webhooks_version + 1 WHERE id = NEW.account_id;
END;

-- Keyed by account: the platform's event id is unique within its account only, so the same id in two accounts is two
-- events. A broadcast (system.maintenance to every account) is kept once under the reserved account_id '' — the
-- platform's record of it, which its repeat is checked against — and copied into each account it reached, so every
-- query but the broadcast's own fan-out stays within one account (README, "Decisions where the SPEC is silent").
CREATE TABLE events (
  account_id TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  data TEXT NOT NULL,
  deliveries INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  -- What ingest handed off, as a JSON array of [webhook_id, delivery_id] (a broadcast's record lists all of them,
  -- each account's copy its own). A delivery's row is written by its queue (at its outcome, or as soon as it waits),
  -- so a repeated ingest and the cron sweeper read this list to find a hand-off that never reached its queue.
  handoffs TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
-- The event list, newest first by arrival (platform-given ids do not sort by time), and the purge, per account.
CREATE INDEX events_account_created ON events(account_id, created_at, id);

-- Keyed by webhook: a webhook's deliveries, newest first, and its windows (stats, replay: delivery ids begin with
-- their creation millisecond) are ranges of the table itself. A lookup by id alone (GET /v1/deliveries/{id}) probes
-- the key once for each of the account's webhooks.
CREATE TABLE deliveries (
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
  -- The first attempt, when it succeeded (otherwise it is an attempts row). Last in the row, large ones last, so
  -- reading the columns above never walks a large body's overflow pages.
  first_started_at INTEGER,
  first_duration_ms INTEGER,
  first_status_code INTEGER,
  first_request_headers TEXT,
  first_response_headers TEXT,
  first_response_body TEXT,
  first_request_body TEXT,
  PRIMARY KEY (webhook_id, id)
) WITHOUT ROWID;
-- Everything not delivered, by webhook and status: lists and replays of a status, the sweeper, cancelling on
-- delete, a repeated ingest, the event purge. A query uses it only when its WHERE says `status <> 'delivered'`, so a
-- delivery created delivered touches nothing but its row.
CREATE INDEX deliveries_open ON deliveries(webhook_id, status, id) WHERE status <> 'delivered';

-- Every attempt but a first one that succeeded (that one lives in its delivery's row); purged by delivery id range.
CREATE TABLE attempts (
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

-- Where the cron sweeper of lost hand-offs has read events up to (created_at, ms): one row, written once a minute.
CREATE TABLE cron_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
