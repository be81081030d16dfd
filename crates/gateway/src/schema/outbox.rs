//! The outbox for operations staff: writes still pending, dead letters, and putting one
//! back in the queue. Everything here needs the `admin` role.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, Object, Result, SimpleObject};

use super::{RoleGuard, Source};
use crate::{
    auth::Role,
    error::{ErrorCode, GatewayError},
    store::{Leg, LegState},
    writes::{self, Writer, input},
};

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
