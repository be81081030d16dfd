-- How often a leg's lease lapsed before its runner finished it (the runner died or hung):
-- a leg that takes its runner down every time is dead-lettered after `writes.max_attempts`
-- leases instead of being leased forever.
ALTER TABLE outbox ADD COLUMN lapses INTEGER NOT NULL DEFAULT 0;
