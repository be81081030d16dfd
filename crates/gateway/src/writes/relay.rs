//! The relay: finishes the legs requests could not. It leases due legs from the outbox
//! (a pending leg whose retry time came, or a leg whose owner died and whose lease
//! expired), runs them in order, and records the outcome: done, another try later with
//! backoff and jitter, or dead-lettered after `writes.max_attempts` leases (a lease that
//! lapsed, its runner dead or hung, counts as one). Creates look before they create,
//! since an earlier attempt may have been applied without an answer.

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;

use super::{
    Writer, backoff, invalidate,
    legs::{self, LegOp, LegResult, Prior},
};
use crate::{
    error::{ErrorCode, GatewayError},
    store::{Leg, LegState},
    upstream::ratelimit::background,
};

/// Legs leased per round.
const BATCH: i64 = 16;

/// How often the relay purges the audit trail past its retention.
const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Runs the relay until the process ends: every `writes.relay_poll_ms`, rounds until
/// nothing is due. The first round comes one interval after the start. Once an hour
/// (and in the first round) it also purges the audit trail past
/// `writes.audit_retention_days`.
pub fn spawn(state: Arc<Writer>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.config.relay_poll_ms.max(10));
        let mut purged: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(poll).await;
            if purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                purged = Some(tokio::time::Instant::now());
                let cutoff = state.clock.now_ms() - state.config.audit_retention_ms();
                match state.store.purge_audit(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(operations = n, "audit trail purged"),
                    Err(e) => tracing::warn!(error = %e, "audit purge failed"),
                }
            }
            loop {
                match tick(&state).await {
                    Ok(n) if n > 0 => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "relay round failed");
                        break;
                    }
                }
            }
        }
    })
}

/// One round: leases and runs the due legs; returns how many it ran. Its GHL calls are
/// background work.
pub async fn tick(s: &Writer) -> Result<usize, crate::store::StoreError> {
    background("relay", relay(s)).await
}

async fn relay(s: &Writer) -> Result<usize, crate::store::StoreError> {
    let lease_ms = i64::try_from(s.config.lease_secs * 1000).unwrap_or(i64::MAX);
    let legs = s.store.lease_due(s.clock.now_ms(), lease_ms, BATCH).await?;
    let n = legs.len();
    for leg in legs {
        run_leg(s, leg).await?;
    }
    Ok(n)
}

/// Undoes the done legs before `leg` that can be undone; returns how many were.
async fn undo_earlier(s: &Writer, all: &[Leg], leg: &Leg) -> usize {
    let done: Vec<&Leg> = all
        .iter()
        .filter(|l| l.seq < leg.seq && l.state == LegState::Done)
        .collect();
    let mut ops = Vec::new();
    let mut legs = Vec::new();
    let mut results = Vec::new();
    for l in done {
        if let Ok(op) = serde_json::from_str::<LegOp>(&l.payload) {
            ops.push(op);
            legs.push(l.clone());
            results.push(LegResult::stored(l.result.as_deref()));
        }
    }
    super::compensate(s, &ops, &legs, &results).await
}

/// What a leg this version cannot read says when it is dead-lettered.
const UNREADABLE: &str = "this version of the gateway cannot read the recorded write; it is \
                          dead-lettered, never sent";

/// What a leg whose runners kept dying says when it is dead-lettered.
fn lapsed_message(lapses: i32) -> String {
    format!(
        "the gateway stopped {lapses} times while it held this write (a crash or a hang); \
         it is dead-lettered so it cannot stop the gateway again: `retryWrite` sends it again"
    )
}

async fn run_leg(s: &Writer, leg: Leg) -> Result<(), crate::store::StoreError> {
    if leg.lapses > 0 && leg.attempts + leg.lapses >= s.config.max_attempts {
        // Every lease is an attempt, finished or not: a leg that takes its runner down
        // each time would otherwise be leased, and take the relay down, forever.
        let message = lapsed_message(leg.lapses);
        if s.store
            .leg_give_up(
                &leg.id,
                ErrorCode::Internal.as_str(),
                &message,
                s.clock.now_ms(),
            )
            .await?
        {
            tracing::warn!(leg = %leg.id, lapses = leg.lapses, "write dead-lettered: its runners kept stopping");
        }
        return Ok(());
    }
    let Ok(op) = serde_json::from_str::<LegOp>(&leg.payload) else {
        tracing::error!(leg = %leg.id, "unreadable outbox payload");
        let now = s.clock.now_ms();
        s.store
            .leg_failed(&leg.id, ErrorCode::Internal.as_str(), now, true, now)
            .await?;
        s.store.leg_error_message(&leg.id, UNREADABLE).await?;
        return Ok(());
    };
    let earlier = s.store.operation_legs(&leg.operation_id).await?;
    let prior = Prior::stored(
        earlier
            .iter()
            .filter(|l| l.seq < leg.seq && l.state == LegState::Done)
            .map(|l| &l.result),
    );
    match legs::run(s, &op, &prior, Some(leg.created_at_ms)).await {
        Ok(result) => {
            let stored = result.as_ref().map(LegResult::to_stored);
            s.store
                .leg_done(&leg.id, stored.as_deref(), s.clock.now_ms())
                .await?;
            invalidate(s, &op, &Prior::of(result.iter())).await;
            tracing::info!(leg = %leg.id, operation = op.kind(), "relay finished a write");
        }
        Err(e) => {
            let err = GatewayError::upstream(op.system(), &e);
            let attempts = leg.attempts + 1;
            let dead = !e.is_transient() || attempts >= s.config.max_attempts;
            let retry_at = s.clock.now_ms()
                + i64::try_from(backoff(&s.config, attempts).as_millis()).unwrap_or(i64::MAX);
            s.store
                .leg_failed(&leg.id, err.code.as_str(), retry_at, dead, s.clock.now_ms())
                .await?;
            s.store.leg_error_message(&leg.id, &err.message).await?;
            if !e.is_transient() {
                // Refused for good: the later legs of the operation will never run. After
                // earlier creates, they are undone, so nothing of the operation is left
                // applied and the refused leg is no dead letter to retry.
                if undo_earlier(s, &earlier, &leg).await > 0 {
                    s.store
                        .leg_set_state(&leg.id, LegState::Cancelled, s.clock.now_ms())
                        .await?;
                }
                for later in earlier.iter().filter(|l| l.seq > leg.seq) {
                    s.store
                        .leg_set_state(&later.id, LegState::Cancelled, s.clock.now_ms())
                        .await?;
                }
            }
            if dead {
                tracing::warn!(leg = %leg.id, operation = op.kind(), code = err.code.as_str(), "write dead-lettered");
            }
        }
    }
    Ok(())
}
