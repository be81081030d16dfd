//! The outbox for operations staff: writes still pending, dead letters, putting one back
//! in the queue, and the audit trail of every upstream write. Everything here needs the
//! `admin` role.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, Json, Object, Result, SimpleObject};
use serde_json::{Value, json};

use super::{
    RoleGuard, Source,
    ids::ContactRef,
    listing::{decode, encode, page_size},
};
use crate::{
    auth::Role,
    clock::iso_ms,
    error::{ErrorCode, GatewayError},
    store::{AuditFilter, AuditedOperation, Leg, LegState},
    writes::{self, Writer, input},
};

/// One system's part of an audited write: what was sent and what the system answered.
#[derive(Debug, Clone, SimpleObject)]
pub struct AuditedWrite {
    /// The system written to.
    pub system: Source,
    /// What was asked of it, e.g. `update_contact`.
    pub operation: String,
    /// `DONE`, `PENDING`, `IN_FLIGHT`, `DEAD`, `COMPENSATED` or `CANCELLED`.
    pub state: String,
    /// What was sent: the write's fields and the record it names (never a credential).
    pub sent: Json<Value>,
    /// What a finished write produced (e.g. the created record's id), when it did.
    pub answer: Option<Json<Value>>,
    /// The code of the last failure, when there was one.
    pub error_code: Option<String>,
    /// The gateway's message for it.
    pub error_message: Option<String>,
    /// Failed attempts.
    pub attempts: i32,
}

/// One upstream write the gateway made, and why.
#[derive(Debug, Clone, SimpleObject)]
pub struct AuditEntry {
    /// The outbox operation.
    pub operation_id: ID,
    /// When it was recorded (ISO-8601).
    pub at: String,
    /// The mutation's name (`updateContact`), or the sync engine's operation
    /// (`propagateToGhl`, `propagateToClubOs`, `storeLink`).
    pub operation: String,
    /// Who asked: `caller:<key id or token subject>`, or `sync:<source>`.
    pub actor: String,
    /// Why: the mutation, or the sync rule and the fields it carried.
    pub reason: String,
    /// The GHL contact it was about.
    pub ghl_contact_id: Option<String>,
    /// The Club OS user it was about.
    pub club_os_user_id: Option<i64>,
    /// Each system's part, in the order they ran.
    pub writes: Vec<AuditedWrite>,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, SimpleObject)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page, when there is one.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

impl From<AuditedOperation> for AuditEntry {
    fn from(op: AuditedOperation) -> Self {
        let parsed = |text: &str| serde_json::from_str(text).unwrap_or(Value::String(text.into()));
        let e = op.entry;
        Self {
            operation_id: ID(e.operation_id),
            at: iso_ms(e.at_ms),
            operation: e.operation,
            actor: e.actor,
            reason: e.reason,
            ghl_contact_id: e.ghl_contact_id,
            club_os_user_id: e.clubos_user_id,
            writes: op
                .legs
                .into_iter()
                .map(|l| AuditedWrite {
                    system: writes::leg_system(&l).into(),
                    operation: l.kind.clone(),
                    state: l.state.as_str().to_uppercase(),
                    sent: Json(parsed(&l.payload)),
                    answer: l.result.as_deref().map(|r| Json(parsed(r))),
                    error_code: l.last_error_code,
                    error_message: l.last_error_message,
                    attempts: l.attempts,
                })
                .collect(),
        }
    }
}

/// A write in the outbox.
#[derive(Debug, Clone, SimpleObject)]
pub struct OutboxWrite {
    /// The write's id (`retryWrite` takes it).
    pub id: ID,
    /// The mutation it belongs to.
    pub operation_id: ID,
    /// The system it writes to.
    pub system: Source,
    /// What it writes, e.g. `update_user`.
    pub operation: String,
    /// `PENDING`, `IN_FLIGHT`, `DONE`, `DEAD`, `COMPENSATED` or `CANCELLED`.
    pub state: String,
    /// Attempts so far that failed.
    pub attempts: i32,
    /// Times the gateway stopped (a crash or a hang) while it held this write; each counts
    /// towards `writes.max_attempts` like a failed attempt.
    pub lapses: i32,
    /// The last error's code.
    pub last_error_code: Option<String>,
    /// The gateway's message for the last error, when it recorded one.
    pub last_error_message: Option<String>,
    /// When it is next tried (epoch milliseconds).
    pub next_attempt_at_ms: i64,
    /// When it was recorded (epoch milliseconds).
    pub created_at_ms: i64,
}

impl From<Leg> for OutboxWrite {
    fn from(l: Leg) -> Self {
        let system = writes::leg_system(&l).into();
        Self {
            id: ID(l.id),
            operation_id: ID(l.operation_id),
            system,
            operation: l.kind,
            state: l.state.as_str().to_uppercase(),
            attempts: l.attempts,
            lapses: l.lapses,
            last_error_code: l.last_error_code,
            last_error_message: l.last_error_message,
            next_attempt_at_ms: l.next_attempt_at_ms,
            created_at_ms: l.created_at_ms,
        }
    }
}

/// Outbox queries.
#[derive(Debug, Default)]
pub struct OutboxQueries;

#[Object]
impl OutboxQueries {
    /// Writes recorded but not finished yet (the relay is on them), oldest first. Needs
    /// the `admin` role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn pending_writes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "At most this many, 1 to 500.")] first: i32,
    ) -> Result<Vec<OutboxWrite>> {
        in_state(ctx, LegState::Pending, first).await
    }

    /// Writes that failed for good or ran out of attempts (dead letters), oldest first;
    /// `retryWrite` puts one back in the queue. Needs the `admin` role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn failed_writes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "At most this many, 1 to 500.")] first: i32,
    ) -> Result<Vec<OutboxWrite>> {
        in_state(ctx, LegState::Dead, first).await
    }

    /// Every upstream write the gateway made (a mutation, a propagation, a link the sweep
    /// stored), newest first: when, who or which sync rule asked, what was sent to each
    /// system and what it answered. Filter by person (either system's id, or a global
    /// id: the person's stored link brings in the other side's writes) and by operation.
    /// Kept for `writes.audit_retention_days`. Needs the `admin` role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn write_audit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A GHL contact id, a Club OS user id or a global id.")] person: Option<ID>,
        #[graphql(desc = "Only this operation, e.g. `updateContact` or `propagateToGhl`.")]
        operation: Option<String>,
        #[graphql(default = 20, desc = "Entries per page, 1 to 100.")] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<AuditPage> {
        let writer = ctx.data::<Arc<Writer>>()?;
        let size = page_size(first)?;
        let before = match after.as_deref().map(decode).transpose()? {
            None => None,
            Some(v) => Some(
                serde_json::from_value::<(i64, String)>(v)
                    .map_err(|_| input::bad("after", "after is not a cursor this list gave out"))
                    .map_err(|e| e.extend())?,
            ),
        };
        let mut filter = AuditFilter {
            operation,
            ..AuditFilter::default()
        };
        if let Some(id) = person {
            let store = &writer.store;
            match ContactRef::parse(&id) {
                Some(ContactRef::Ghl(ghl)) => {
                    let links = store
                        .links_by_ghl(std::slice::from_ref(&ghl))
                        .await
                        .map_err(unavailable)?;
                    filter.clubos_user_id = links.first().map(|l| l.clubos_user_id);
                    filter.ghl_contact_id = Some(ghl);
                }
                Some(ContactRef::ClubOs(user)) => {
                    let links = store.links_by_clubos(&[user]).await.map_err(unavailable)?;
                    filter.ghl_contact_id = links.first().map(|l| l.ghl_contact_id.clone());
                    filter.clubos_user_id = Some(user);
                }
                None => {
                    return Err(input::bad("person", "person is not a contact id").extend());
                }
            }
        }
        let limit = i64::try_from(size + 1).unwrap_or(i64::MAX);
        let mut ops = writer
            .store
            .audit_trail(&filter, before, limit)
            .await
            .map_err(unavailable)?;
        let has_next_page = ops.len() > size;
        ops.truncate(size);
        let end_cursor = ops
            .last()
            .filter(|_| has_next_page)
            .map(|o| encode(&json!([o.entry.at_ms, o.entry.operation_id])));
        Ok(AuditPage {
            entries: ops.into_iter().map(AuditEntry::from).collect(),
            end_cursor,
            has_next_page,
        })
    }
}

/// Outbox mutations.
#[derive(Debug, Default)]
pub struct OutboxMutations;

#[Object]
impl OutboxMutations {
    /// Puts a dead-lettered write back in the queue (it is tried again at once). Needs the
    /// `admin` role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn retry_write(&self, ctx: &Context<'_>, id: ID) -> Result<OutboxWrite> {
        let writer = ctx.data::<Arc<Writer>>()?;
        if !writer
            .store
            .retry_leg(&id, writer.clock.now_ms())
            .await
            .map_err(unavailable)?
        {
            return Err(input::bad("id", "only a dead-lettered write can be retried").extend());
        }
        let leg = writer.store.leg(&id).await.map_err(unavailable)?;
        leg.map(OutboxWrite::from)
            .ok_or_else(|| GatewayError::new(ErrorCode::NotFound, "no such write").extend())
    }
}

async fn in_state(ctx: &Context<'_>, state: LegState, first: i32) -> Result<Vec<OutboxWrite>> {
    let writer = ctx.data::<Arc<Writer>>()?;
    if !(1..=500).contains(&first) {
        return Err(input::bad("first", "first must be 1 to 500").extend());
    }
    let legs = writer
        .store
        .legs_in_state(state, i64::from(first))
        .await
        .map_err(unavailable)?;
    Ok(legs.into_iter().map(OutboxWrite::from).collect())
}

fn unavailable(e: crate::store::StoreError) -> async_graphql::Error {
    writes::store_err(e).extend()
}
