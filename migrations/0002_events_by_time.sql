-- The event log lists newest first by arrival time (platform-given ids do not sort by time).
CREATE INDEX events_account_created ON events(account_id, created_at, id);
