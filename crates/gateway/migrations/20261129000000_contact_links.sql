-- Which GHL contact is which Club OS user, once linking has decided (or a person said so).
-- Portable SQL: the same file runs on SQLite and PostgreSQL. Timestamps are BIGINT epoch
-- milliseconds so that neither backend's date types leak into the queries.
--
-- A link is one-to-one: the primary key and the UNIQUE constraint make the database refuse
-- a second partner on either side, whatever a buggy or racing writer tries.
--
-- `source` is checked by the gateway, not by a CHECK constraint: SQLite cannot alter a
-- constraint in place, so a new source would otherwise need a table rebuild.
CREATE TABLE contact_links (
    ghl_contact_id TEXT NOT NULL,
    clubos_user_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CONSTRAINT contact_links_pkey PRIMARY KEY (ghl_contact_id),
    CONSTRAINT contact_links_clubos_user_id_key UNIQUE (clubos_user_id)
);
