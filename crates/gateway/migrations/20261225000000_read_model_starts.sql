-- When a record happens, for records that take place at a time (a Club OS event's
-- start, epoch milliseconds; null for the rest): lets a poll over a time window find the
-- stored records inside it, and so the ones the upstream no longer lists there.
ALTER TABLE read_model ADD COLUMN starts_ms BIGINT;
CREATE INDEX read_model_starts ON read_model (kind, starts_ms);
