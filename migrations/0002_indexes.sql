-- The event log lists newest first by arrival time (platform-given ids do not sort by time).
CREATE INDEX events_account_created ON events(account_id, created_at, id);
-- The purge walks events by age; a repeated ingest and the purge look deliveries up by event.
CREATE INDEX events_created ON events(created_at);
CREATE INDEX deliveries_event ON deliveries(event_id, status);
