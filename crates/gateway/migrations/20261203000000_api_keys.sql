-- Callers' API keys. Only a SHA-256 of each key is kept: the key itself is shown once,
-- when it is created. Keys are 32 random bytes, so a plain hash is enough (no slow KDF).
-- `ghl_locations` and `clubos_locations` are comma-separated lists of the GHL and Club OS
-- locations the key may use, or NULL for any. Timestamps are BIGINT epoch milliseconds, as elsewhere.
CREATE TABLE api_keys (
    id TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    ghl_locations TEXT,
    clubos_locations TEXT,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
