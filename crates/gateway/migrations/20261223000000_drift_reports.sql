-- What each reconcile run found between the read model and the upstreams, for an
-- operator to read: per kind, how many records were missing from the store, extra in it
-- (gone upstream without a webhook) or differing, and up to a few ids of each
-- (`details`, JSON). Every difference found was repaired by the same run.
CREATE TABLE drift_reports (
    id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    ran_at_ms BIGINT NOT NULL,
    compared BIGINT NOT NULL,
    missing BIGINT NOT NULL,
    extra BIGINT NOT NULL,
    differing BIGINT NOT NULL,
    details TEXT NOT NULL,
    CONSTRAINT drift_reports_pkey PRIMARY KEY (id)
);
CREATE INDEX drift_reports_recent ON drift_reports (ran_at_ms);
