-- BroxiAI Webhooks: the durable record of accounts, keys, subscriptions, events, deliveries and attempts.
-- Times are integer milliseconds since the epoch; JSON columns hold text.

CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
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
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE INDEX webhooks_account ON webhooks(account_id, deleted_at, id);

CREATE TABLE events (
  id TEXT PRIMARY KEY,
  account_id TEXT,                         -- NULL for a broadcast (system.maintenance to every account)
  type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  data TEXT NOT NULL,
  deliveries INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX events_account ON events(account_id, id);

CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
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
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_webhook_status ON deliveries(webhook_id, status, id);
CREATE INDEX deliveries_created ON deliveries(created_at);

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
);
CREATE INDEX attempts_started ON attempts(started_at);
