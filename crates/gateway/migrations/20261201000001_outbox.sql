-- The outbox: one row per leg of a write (one upstream operation, e.g. a GHL contact update),
-- the durable record of what the gateway still owes GHL and Club OS. The legs of one mutation
-- share `operation_id` and run in `seq` order. A request runs its legs inline under a lease
-- (`state = 'in_flight'`, `next_attempt_at_ms` = end of the lease); the relay picks up legs
-- that are `pending` and due, or `in_flight` with a lapsed lease (the process died).
--
-- `state` is one of pending | in_flight | done | dead | compensated | cancelled, checked by
-- the gateway rather than a CHECK constraint (SQLite cannot alter constraints in place).
-- `last_error_code` is a stable code, never an upstream body; `payload` and `result` are JSON.
CREATE TABLE outbox (
    id TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    system TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_error_code TEXT NULL,
    result TEXT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CONSTRAINT outbox_pkey PRIMARY KEY (id),
    -- Also the index for reading an operation's legs (and checking earlier legs are done).
    CONSTRAINT outbox_operation_id_seq_key UNIQUE (operation_id, seq)
);

-- For leasing due legs and listing legs by state.
CREATE INDEX outbox_state_next_attempt_at_ms ON outbox (state, next_attempt_at_ms);
