-- Large broadcasts fanned out through the FANOUT Cloudflare Queue, a page of webhooks per message
-- (src/events/fanout.ts, docs/ARCHITECTURE.md "Fan-out of large broadcasts").

-- 1 on a fanned-out broadcast's record (it lists no hand-offs: its pages hold them) and on every copy its pages write,
-- so a page run again tells a copy it wrote (whose hand-offs it re-hands, same delivery ids) from an account's own
-- event with that id (which the broadcast leaves alone).
ALTER TABLE events ADD COLUMN fanout INTEGER NOT NULL DEFAULT 0;

-- The pages of fanned-out broadcasts not yet done, in the main database only (a shard's table stays empty), written
-- in the same transaction as the broadcast's record and deleted when the page's hand-offs are all durable. A page is
-- the accounts after `after_account` up to `last_account` (NULL: to the end), whole accounts, and the webhooks of
-- theirs the broadcast matched at ingest (JSON array of ids). The cron queues again a page queued long ago and not done.
CREATE TABLE fanout_pages (
  event_id TEXT NOT NULL,
  page INTEGER NOT NULL,
  after_account TEXT NOT NULL,
  last_account TEXT,
  webhooks TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  queued_at INTEGER NOT NULL,
  PRIMARY KEY (event_id, page)
) WITHOUT ROWID;
CREATE INDEX fanout_pages_queued ON fanout_pages(queued_at);
