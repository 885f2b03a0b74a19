-- Deliveries reach D1 at their outcome, or as soon as they wait (see src/delivery/queue.ts), not at ingest. So the
-- event row lists what ingest handed off, as a JSON array of [webhook_id, delivery_id]: a repeated ingest and the
-- cron sweeper read it to find a hand-off that never reached its queue. NULL for events stored before this.
ALTER TABLE events ADD COLUMN handoffs TEXT;
-- Where the sweeper of lost hand-offs has read events up to (created_at, ms): one row, written once a minute.
CREATE TABLE cron_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
