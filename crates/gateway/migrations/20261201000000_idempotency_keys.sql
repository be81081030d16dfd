-- Idempotency keys of mutations: a retry that sends the same key gets the first answer back
-- instead of writing upstream a second time. Portable SQL, like every migration here.
--
-- One row per (scope, key); the primary key makes the claim a single atomic insert, so two
-- concurrent requests with one key can never both win. The row is claimed while `response`
-- is NULL and completed once it holds the final response (JSON text). A claim whose holder
-- died is reclaimable when `locked_until_ms` has passed, unless it recorded an outbox
-- operation (`operation_id`): that work is durable and finished by the relay, so the key
-- stays in progress. Keys older than the retention (by `created_at_ms`) count as absent and
-- are purged, except while their operation still has unfinished legs.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NULL,
    operation_id TEXT NULL,
    locked_until_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    completed_at_ms BIGINT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key)
);

-- For purging by age.
CREATE INDEX idempotency_keys_created_at_ms ON idempotency_keys (created_at_ms);
