-- The identity graph: how and when each stored link was confirmed, the matches staff must
-- decide (suggestions) and those they turned down (dismissals), and the change log every
-- change to the graph is appended to.
--
-- `confirmed_by` is `write` (a mutation or a create through the gateway) or `sync` (the
-- link sweep); links stored before this migration were all written by mutations.
-- `linked_at_ms` is when the pair was first stored; `updated_at_ms` when it was last
-- written again. `evidence` is the shared value or field a match rested on.
ALTER TABLE contact_links ADD COLUMN evidence TEXT;
ALTER TABLE contact_links ADD COLUMN confirmed_by TEXT NOT NULL DEFAULT 'write';
ALTER TABLE contact_links ADD COLUMN linked_at_ms BIGINT NOT NULL DEFAULT 0;
UPDATE contact_links SET linked_at_ms = updated_at_ms;

-- A pair the link sweep could not confirm (the value it shares is shared by others too),
-- for staff to link or dismiss. `score` orders the review queue (0 to 100).
CREATE TABLE link_suggestions (
    ghl_contact_id TEXT NOT NULL,
    clubos_user_id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    evidence TEXT NOT NULL,
    score BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CONSTRAINT link_suggestions_pkey PRIMARY KEY (ghl_contact_id, clubos_user_id)
);
CREATE INDEX link_suggestions_queue ON link_suggestions (score, ghl_contact_id, clubos_user_id);

-- A pair staff said is not one person: never suggested again.
CREATE TABLE link_dismissals (
    ghl_contact_id TEXT NOT NULL,
    clubos_user_id BIGINT NOT NULL,
    dismissed_at_ms BIGINT NOT NULL,
    CONSTRAINT link_dismissals_pkey PRIMARY KEY (ghl_contact_id, clubos_user_id)
);

-- Every change to the data the gateway owns, in commit order: `seq` is taken as the
-- highest so far plus one inside the writing transaction, under a lock held to its end
-- (SQLite's write lock; a PostgreSQL advisory lock), so two writers never share a number
-- and a reader following `seq` never sees a later number before an earlier one.
-- `fields` is a JSON array of the changed field names; `source` says who made the change
-- (`write` or `sync`).
CREATE TABLE change_log (
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    ghl_contact_id TEXT,
    clubos_user_id BIGINT,
    fields TEXT NOT NULL,
    source TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    CONSTRAINT change_log_pkey PRIMARY KEY (seq)
);
