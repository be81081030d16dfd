-- The audit trail: one row per operation the gateway wrote upstream (a mutation, a
-- propagation, a link the sweep stored), saying when, who or which sync rule asked for it
-- and whom it was about. What was sent and what each system answered are the operation's
-- outbox legs (same `operation_id`). Rows and their finished legs are purged after
-- `writes.audit_retention_days`.
CREATE TABLE write_audit (
    operation_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    operation TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    ghl_contact_id TEXT NULL,
    clubos_user_id BIGINT NULL,
    CONSTRAINT write_audit_pkey PRIMARY KEY (operation_id)
);
CREATE INDEX write_audit_at ON write_audit (at_ms, operation_id);
CREATE INDEX write_audit_ghl ON write_audit (ghl_contact_id, at_ms);
CREATE INDEX write_audit_clubos ON write_audit (clubos_user_id, at_ms);
CREATE INDEX write_audit_operation ON write_audit (operation, at_ms);
