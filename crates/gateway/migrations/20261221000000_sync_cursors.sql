-- Where each change source of the sync engine stands: its cursor (for the Club OS poll,
-- the latest `updatedDate` it has handled), and how its last run went, so that a
-- restarted gateway resumes where the last one stopped and an operator can see a stalled
-- source.
CREATE TABLE sync_cursors (
    source TEXT NOT NULL,
    position TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    last_success_ms BIGINT,
    last_error TEXT,
    CONSTRAINT sync_cursors_pkey PRIMARY KEY (source)
);
