-- The synced read model: the gateway's own copy of the upstream records it serves.
--
-- `kind` is `ghl_contact`, `ghl_task`, `ghl_note`, `ghl_appointment`, `clubos_user`,
-- `clubos_event` or `clubos_location`; `id` the upstream's id (Club OS ids as decimal text); `owner` the GHL
-- contact (tasks, notes, appointments) or Club OS user (events) a record hangs off.
-- `body` is the record as the gateway reads it (JSON); `upstream_updated` the upstream's
-- own updated time, as it gave it; `synced_at_ms` when the gateway last stored it and
-- `source` how it learned it (`read_through`, `webhook`, `backfill`, `clubos_poll`,
-- `reconcile`). `sort_ms` orders lists (a contact's `dateAdded`). `stale` is 1 once a
-- write through the gateway changed the record upstream and it was not read again yet:
-- such a row is read through before it is served.
CREATE TABLE read_model (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    owner TEXT,
    body TEXT NOT NULL,
    upstream_updated TEXT,
    sort_ms BIGINT NOT NULL,
    synced_at_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    stale BIGINT NOT NULL,
    CONSTRAINT read_model_pkey PRIMARY KEY (kind, id)
);
CREATE INDEX read_model_owner ON read_model (kind, owner);
CREATE INDEX read_model_order ON read_model (kind, sort_ms, id);
CREATE INDEX read_model_stale ON read_model (kind, stale);

-- The values a record can be found by (`email:<lowercase>`, `phone:<E.164>`,
-- `link:<Club OS user id>` for the GHL link custom field), so that matching is a batched
-- store read.
CREATE TABLE read_model_keys (
    kind TEXT NOT NULL,
    match_key TEXT NOT NULL,
    id TEXT NOT NULL,
    CONSTRAINT read_model_keys_pkey PRIMARY KEY (kind, match_key, id)
);
CREATE INDEX read_model_keys_record ON read_model_keys (kind, id);

-- Per-owner collections read whole (an owner's notes, appointments or events): the set
-- is known, so an owner with none reads as none rather than as not synced.
CREATE TABLE read_model_sets (
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    synced_at_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    stale BIGINT NOT NULL,
    CONSTRAINT read_model_sets_pkey PRIMARY KEY (kind, owner)
);

-- Change-log entries about a record of the read model name it; `via` says how the gateway
-- learned the change (the read model's `source`).
ALTER TABLE change_log ADD COLUMN record_kind TEXT;
ALTER TABLE change_log ADD COLUMN record_id TEXT;
ALTER TABLE change_log ADD COLUMN via TEXT;
