-- Following people through the change log (`changes(personIds:)`) reads their entries
-- by person, in sequence order, instead of scanning the log from the cursor on.
CREATE INDEX change_log_ghl_contact ON change_log (ghl_contact_id, seq);
CREATE INDEX change_log_clubos_user ON change_log (clubos_user_id, seq);
