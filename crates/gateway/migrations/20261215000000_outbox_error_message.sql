-- The gateway's own words for a leg's last failure (never an upstream's raw text): a
-- replayed answer names, say, the existing record a create was refused for.
ALTER TABLE outbox ADD COLUMN last_error_message TEXT;
