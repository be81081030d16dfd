//! The write path: a mutation becomes a plan of legs (one upstream write each), recorded
//! in the outbox together with its idempotency key before anything is sent, then run
//! in order. A leg that fails transiently stays in the outbox and the relay finishes it;
//! a permanent failure undoes what can be undone (a created GHL contact is deleted) and
//! cancels the rest. The answer says, system by system, what happened.

pub mod input;
pub mod legs;
pub mod own;
pub mod plan;
pub mod relay;

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    cache::Caches,
    clock::Clock,
    error::{ErrorCode, GatewayError, System},
    response_cache::Tag,
    store::{AuditEntry, Claim, Leg, LegState, NewLeg, Store, StoreError, new_id},
    upstream::{
        clubos::ClubOsClient,
        ghl::{GhlClient, LinkField},
    },
};
use legs::{LegOp, LegResult, Prior};

/// What writes go through, built once: the upstream clients, the store with its outbox
/// and idempotency keys, the caches a write invalidates, the link field it mirrors, the
/// write settings and the outbox's clock.
#[derive(Debug, Clone)]
pub struct Writer {
    pub ghl: GhlClient,
    pub clubos: ClubOsClient,
    pub store: Store,
    pub caches: Arc<Caches>,
    pub link_field: LinkField,
    pub config: WritesConfig,
    /// The system's time, or a test's manual clock.
    pub clock: Clock,
    /// The records the gateway wrote lately, so that sync knows its own echo.
    pub own_writes: own::OwnWrites,
    /// The read model, when reads are served from it: writes mark what they changed.
    pub read_model: Option<crate::read_model::ReadModel>,
}

/// `[writes]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WritesConfig {
    /// How long an idempotency key is remembered.
    pub idempotency_retention_secs: u64,
    /// How long a request or the relay owns a leg it runs; a leg whose owner died is
    /// taken up again after this.
    pub lease_secs: u64,
    /// How long a request with a key another request is running waits for its answer.
    pub key_wait_ms: u64,
    /// How often the relay looks for due legs.
    pub relay_poll_ms: u64,
    /// Attempts before a leg is dead-lettered.
    pub max_attempts: i32,
    /// First retry delay ceiling (full jitter below it), doubling per attempt.
    pub retry_base_ms: u64,
    /// Largest retry delay.
    pub retry_max_ms: u64,
    /// When set, `bookAppointment` also books the linked Club OS user into a Club OS
    /// event (absent: appointments live in GHL only).
    pub clubos_mirror: Option<ClubOsMirror>,
    /// How long the audit trail (`writeAudit`) keeps an operation, with its finished
    /// outbox legs; at least as long as idempotency keys, whose replays read them.
    pub audit_retention_days: u64,
}

impl WritesConfig {
    /// The one-line problem with these settings, naming the key, when there is one.
    pub fn check(&self) -> Result<(), String> {
        if self.audit_retention_days == 0
            || self.audit_retention_days.saturating_mul(86_400) < self.idempotency_retention_secs
        {
            return Err(
                "key `writes.audit_retention_days` must be at least 1 and cover \
                        `writes.idempotency_retention_secs`"
                    .into(),
            );
        }
        Ok(())
    }

    /// The audit trail's retention, in milliseconds.
    pub fn audit_retention_ms(&self) -> i64 {
        i64::try_from(self.audit_retention_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX)
    }
}

/// How booked appointments are mirrored into Club OS.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClubOsMirror {
    /// Club OS event type: `4` sales appointment or tour, `2` personal training, `3` class.
    pub event_type_id: i64,
    /// The Club OS staff user who owns the mirrored events.
    pub owner_id: i64,
}

impl Default for WritesConfig {
    fn default() -> Self {
        Self {
            idempotency_retention_secs: 24 * 60 * 60,
            lease_secs: 30,
            key_wait_ms: 10_000,
            relay_poll_ms: 500,
            max_attempts: 8,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            clubos_mirror: None,
            audit_retention_days: 90,
        }
    }
}

/// What happened on one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WriteStatus {
    /// Done.
    Applied,
    /// Not attempted, for the reason given (e.g. no record in that system).
    Skipped,
    /// Recorded; the relay will finish it.
    Pending,
    /// Not applied (or undone), for the error given.
    Failed,
}

/// One system's part of a mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteRecord {
    pub system: System,
    pub operation: String,
    pub status: WriteStatus,
    pub write_id: Option<String>,
    pub error_code: Option<ErrorCode>,
    pub message: Option<String>,
    /// The contact of one row of a bulk write (each contact has its own outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
}

/// The result of a mutation, as answered and as stored for replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub operation_id: String,
    pub writes: Vec<WriteRecord>,
    /// The GHL contact the mutation is about (created or changed).
    pub ghl_contact_id: Option<String>,
    /// The Club OS user the mutation is about.
    pub clubos_user_id: Option<i64>,
    /// The record (task, note, appointment) the mutation made or changed, when there is
    /// one.
    pub created_id: Option<String>,
}

/// The overall status of a mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    Applied,
    Pending,
    Partial,
    Failed,
}

impl Outcome {
    pub fn overall(&self) -> Overall {
        let has = |s| self.writes.iter().any(|w| w.status == s);
        let applied = has(WriteStatus::Applied);
        match (applied, has(WriteStatus::Pending), has(WriteStatus::Failed)) {
            (_, _, true) if applied => Overall::Partial,
            (_, true, true) => Overall::Partial,
            (false, false, true) => Overall::Failed,
            (_, true, false) => Overall::Pending,
            _ => Overall::Applied,
        }
    }
}

/// A mutation's legs, what it skips, and what it is about.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub legs: Vec<LegOp>,
    pub skipped: Vec<WriteRecord>,
    pub ghl_contact_id: Option<String>,
    pub clubos_user_id: Option<i64>,
    /// The task, note or appointment the mutation changes, when it names one (a create
    /// learns its record's id from the upstream's answer).
    pub record_id: Option<String>,
}

impl Plan {
    /// Records a system the mutation leaves alone, and why.
    pub fn skip(&mut self, system: System, operation: &str, why: &str) {
        self.skipped.push(WriteRecord {
            system,
            operation: operation.to_owned(),
            status: WriteStatus::Skipped,
            write_id: None,
            error_code: None,
            message: Some(why.to_owned()),
            contact_id: None,
        });
    }
}

/// Why a write is made, for the audit trail (see [`crate::store::AuditEntry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    /// The mutation's field name, or the sync operation.
    pub operation: String,
    /// `caller:<id>` or `sync:<source>`.
    pub actor: String,
    /// The rule or request, in words.
    pub reason: String,
}

impl Why {
    /// A mutation `mutation` a caller (`None`: anonymous) sent.
    pub fn caller(caller: Option<&str>, mutation: &str) -> Self {
        Self {
            operation: mutation.to_owned(),
            actor: format!("caller:{}", caller.unwrap_or("anonymous")),
            reason: format!("the {mutation} mutation"),
        }
    }

    /// Work of the sync source `source`, for `reason`.
    pub fn sync(source: &str, operation: &str, reason: impl Into<String>) -> Self {
        Self {
            operation: operation.to_owned(),
            actor: format!("sync:{source}"),
            reason: reason.into(),
        }
    }
}

/// An idempotency key with what it is claimed for.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

impl Idempotency {
    /// A key scoped to the caller and the mutation, fingerprinted by its input.
    pub fn new(caller: &str, mutation: &str, key: &str, input: &serde_json::Value) -> Self {
        let digest = Sha256::digest(format!("{mutation}\n{input}").as_bytes());
        Self {
            scope: format!("{caller}:{mutation}"),
            key: key.to_owned(),
            fingerprint: hex::encode(digest),
        }
    }
}

/// The coded error for a store failure during a write or an outbox read; the cause goes
/// to the log, not to the caller.
pub(crate) fn store_err(e: StoreError) -> GatewayError {
    tracing::warn!(error = %e, "store failed during a write");
    GatewayError::new(
        ErrorCode::StoreUnavailable,
        "the gateway's store is unavailable",
    )
}

fn record(op: &LegOp, leg: &Leg, status: WriteStatus, err: Option<&GatewayError>) -> WriteRecord {
    WriteRecord {
        system: op.system(),
        operation: op.kind().to_owned(),
        status,
        write_id: Some(leg.id.clone()),
        error_code: err.map(|e| e.code),
        message: err.map(|e| e.message.clone()),
        contact_id: None,
    }
}

/// An applied leg's records: one per contact for a bulk write (GHL answers each contact
/// on its own; an unknown or foreign id is refused while the others are applied), else
/// one.
fn applied_records(op: &LegOp, leg: &Leg, result: Option<&LegResult>) -> Vec<WriteRecord> {
    let LegOp::GhlBulkTags { contact_ids, .. } = op else {
        return vec![record(op, leg, WriteStatus::Applied, None)];
    };
    let failed = result
        .and_then(|r| r.failed_contact_ids.clone())
        .unwrap_or_default();
    contact_ids
        .iter()
        .map(|id| {
            let refused = failed.contains(id);
            WriteRecord {
                status: if refused {
                    WriteStatus::Failed
                } else {
                    WriteStatus::Applied
                },
                error_code: refused.then_some(ErrorCode::UpstreamRejected),
                message: refused.then(|| {
                    "GHL refused this contact (unknown, deleted or of another location)".into()
                }),
                contact_id: Some(id.clone()),
                ..record(op, leg, WriteStatus::Applied, None)
            }
        })
        .collect()
}

/// The delay before attempt `attempt + 1` of a leg: exponential, full jitter, capped.
pub fn backoff(cfg: &WritesConfig, attempt: i32) -> Duration {
    use rand::RngExt;
    let exp = u32::try_from(attempt.clamp(0, 20)).unwrap_or(20);
    let ceiling = cfg
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(cfg.retry_max_ms);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling.max(1)))
}

/// Runs a plan: claims the key and records the legs (with the audit entry `why` makes,
/// when there are legs), runs them, and answers.
pub async fn execute(
    s: &Writer,
    plan: Plan,
    key: Option<Idempotency>,
    why: Why,
) -> Result<Outcome, GatewayError> {
    let cfg = &s.config;
    let operation_id = new_id();
    let new_legs: Vec<NewLeg> = plan
        .legs
        .iter()
        .map(|op| {
            Ok(NewLeg {
                system: op.system().to_string(),
                kind: op.kind().to_owned(),
                payload: serde_json::to_string(op).map_err(|_| {
                    GatewayError::new(ErrorCode::BadUserInput, "the input cannot be recorded")
                })?,
            })
        })
        .collect::<Result<_, GatewayError>>()?;
    let lease_ms = i64::try_from(cfg.lease_secs * 1000).unwrap_or(i64::MAX);
    let retention_ms = i64::try_from(cfg.idempotency_retention_secs * 1000).unwrap_or(i64::MAX);
    let started = tokio::time::Instant::now();
    let (claim, legs) = loop {
        let claim_of = key.as_ref().map(|k| {
            (
                k.scope.as_str(),
                k.key.as_str(),
                k.fingerprint.as_str(),
                retention_ms,
            )
        });
        let now_ms = s.clock.now_ms();
        let begun = if new_legs.is_empty() {
            s.store
                .begin_operation(&operation_id, &new_legs, now_ms, lease_ms, claim_of)
                .await
        } else {
            let entry = AuditEntry {
                operation_id: operation_id.clone(),
                at_ms: now_ms,
                operation: why.operation.clone(),
                actor: why.actor.clone(),
                reason: why.reason.clone(),
                ghl_contact_id: plan.ghl_contact_id.clone(),
                clubos_user_id: plan.clubos_user_id,
            };
            s.store
                .begin_audited_operation(&new_legs, now_ms, lease_ms, claim_of, &entry)
                .await
        };
        let (claim, legs) = begun.map_err(store_err)?;
        if claim != Claim::InProgress || started.elapsed() > Duration::from_millis(cfg.key_wait_ms)
        {
            break (claim, legs);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    match claim {
        Claim::Claimed => {}
        Claim::Replay(stored) => return replay(s, &stored).await,
        Claim::Reused => {
            return Err(GatewayError::new(
                ErrorCode::IdempotencyKeyReused,
                "this idempotency key was used with a different input",
            ));
        }
        Claim::Orphaned(operation_id) => {
            // Its request died: the relay finishes the work, and the outbox's answer is
            // the key's from now on (each replay brings it up to date).
            let outcome = from_outbox(s, operation_id).await?;
            store_answer(s, key.as_ref(), &outcome).await?;
            return Ok(outcome);
        }
        Claim::InProgress => {
            // The key's operation may be recorded already (its request still runs, slower
            // than `key_wait_ms`): answer what the outbox knows of it rather than nothing.
            let recorded = match &key {
                Some(k) => s
                    .store
                    .key_operation(&k.scope, &k.key)
                    .await
                    .map_err(store_err)?,
                None => None,
            };
            return match recorded {
                Some(operation_id) => from_outbox(s, operation_id).await,
                None => Err(GatewayError::new(
                    ErrorCode::IdempotencyInProgress,
                    "another request with this idempotency key is still running",
                )),
            };
        }
    }
    let mut outcome = Outcome {
        operation_id,
        writes: plan.skipped.clone(),
        ghl_contact_id: plan.ghl_contact_id.clone(),
        clubos_user_id: plan.clubos_user_id,
        created_id: plan.record_id.clone(),
    };
    let mut results: Vec<LegResult> = Vec::new();
    let mut stopped = false;
    for (i, (op, leg)) in plan.legs.iter().zip(&legs).enumerate() {
        if stopped {
            break;
        }
        let prior = Prior::of(&results);
        match legs::run(s, op, &prior, None).await {
            Ok(result) => {
                let stored = result.as_ref().map(LegResult::to_stored);
                s.store
                    .leg_done(&leg.id, stored.as_deref(), s.clock.now_ms())
                    .await
                    .map_err(store_err)?;
                outcome
                    .writes
                    .extend(applied_records(op, leg, result.as_ref()));
                results.push(result.unwrap_or_default());
            }
            Err(e) if e.is_transient() => {
                let err = GatewayError::upstream(op.system(), &e);
                let retry_at = s.clock.now_ms() + millis(backoff(cfg, 0));
                s.store
                    .leg_failed(
                        &leg.id,
                        err.code.as_str(),
                        retry_at,
                        false,
                        s.clock.now_ms(),
                    )
                    .await
                    .map_err(store_err)?;
                outcome
                    .writes
                    .push(record(op, leg, WriteStatus::Pending, Some(&err)));
                for (later_op, later) in plan.legs.iter().zip(&legs).skip(i + 1) {
                    s.store
                        .leg_release(&later.id, s.clock.now_ms())
                        .await
                        .map_err(store_err)?;
                    outcome
                        .writes
                        .push(record(later_op, later, WriteStatus::Pending, None));
                }
                stopped = true;
            }
            Err(e) => {
                let err = GatewayError::upstream(op.system(), &e);
                let undone = compensate(s, &plan.legs[..i], &legs[..i], &results).await;
                if undone > 0 {
                    for w in outcome
                        .writes
                        .iter_mut()
                        .filter(|w| w.status == WriteStatus::Applied)
                    {
                        w.status = WriteStatus::Failed;
                        w.message = Some(UNDONE.into());
                    }
                    s.store
                        .leg_set_state(&leg.id, LegState::Cancelled, s.clock.now_ms())
                        .await
                        .map_err(store_err)?;
                } else {
                    s.store
                        .leg_failed(
                            &leg.id,
                            err.code.as_str(),
                            s.clock.now_ms(),
                            true,
                            s.clock.now_ms(),
                        )
                        .await
                        .map_err(store_err)?;
                }
                outcome
                    .writes
                    .push(record(op, leg, WriteStatus::Failed, Some(&err)));
                for (later_op, later) in plan.legs.iter().zip(&legs).skip(i + 1) {
                    s.store
                        .leg_set_state(&later.id, LegState::Cancelled, s.clock.now_ms())
                        .await
                        .map_err(store_err)?;
                    outcome.writes.push(WriteRecord {
                        message: Some(NOT_ATTEMPTED.into()),
                        ..record(later_op, later, WriteStatus::Skipped, None)
                    });
                }
                stopped = true;
            }
        }
    }
    let prior = Prior::of(&results);
    outcome.ghl_contact_id = outcome.ghl_contact_id.or_else(|| prior.ghl_contact_id());
    outcome.clubos_user_id = outcome.clubos_user_id.or_else(|| prior.clubos_user_id());
    outcome.created_id = prior.created_id().or(outcome.created_id);
    let learned = (outcome.ghl_contact_id != plan.ghl_contact_id)
        || (outcome.clubos_user_id != plan.clubos_user_id);
    if learned && !plan.legs.is_empty() {
        s.store
            .audit_about(
                &outcome.operation_id,
                outcome.ghl_contact_id.as_deref(),
                outcome.clubos_user_id,
            )
            .await
            .map_err(store_err)?;
    }
    for op in &plan.legs {
        invalidate(s, op, &prior).await;
    }
    store_answer(s, key.as_ref(), &outcome).await?;
    Ok(outcome)
}

/// Stores `outcome` as the key's answer, so that a retry with the key replays it.
async fn store_answer(
    s: &Writer,
    key: Option<&Idempotency>,
    outcome: &Outcome,
) -> Result<(), GatewayError> {
    let Some(k) = key else {
        return Ok(());
    };
    let stored = serde_json::to_string(outcome).unwrap_or_default();
    s.store
        .complete_key(&k.scope, &k.key, &stored, s.clock.now_ms())
        .await
        .map_err(store_err)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Undoes the applied legs that can be undone, newest first; returns how many.
pub(crate) async fn compensate(
    s: &Writer,
    ops: &[LegOp],
    legs: &[Leg],
    results: &[LegResult],
) -> usize {
    let mut undone = 0;
    for ((op, leg), result) in ops.iter().zip(legs).zip(results).rev() {
        let Some(undo) = legs::compensation(op, result) else {
            continue;
        };
        match legs::run(s, &undo, &Prior::default(), None).await {
            Ok(_) => {
                undone += 1;
                if let Err(e) = s
                    .store
                    .leg_set_state(&leg.id, LegState::Compensated, s.clock.now_ms())
                    .await
                {
                    tracing::warn!(error = %e, "could not record a compensation");
                }
                invalidate(s, &undo, &Prior::default()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, operation = op.kind(), "compensation failed");
            }
        }
    }
    undone
}

/// Forgets cached data a leg changed, and marks it stale in the read model (so it is
/// read through before it is served again); then drops the kept answers that read it
/// (last, so that no answer computed from the forgotten copies can be kept).
pub async fn invalidate(s: &Writer, op: &LegOp, prior: &Prior) {
    let (ghl, clubos) = op.touches(prior);
    let bulk = match op {
        LegOp::GhlBulkTags { contact_ids, .. } => contact_ids.as_slice(),
        _ => &[],
    };
    for id in ghl.iter().chain(bulk) {
        s.caches.invalidate_ghl_contact(id).await;
        if let Some(rm) = &s.read_model
            && let Err(e) = rm.wrote_ghl_contact(id).await
        {
            tracing::warn!(error = %e, "read model: a written contact could not be marked");
        }
    }
    if let Some(id) = clubos {
        s.caches.invalidate_clubos_user(id).await;
        if let Some(rm) = &s.read_model
            && let Err(e) = rm.wrote_clubos_user(id).await
        {
            tracing::warn!(error = %e, "read model: a written user could not be marked");
        }
    }
    // A write may change who holds an email or phone: lookups and lists go too.
    let mut tags = vec![Tag::AnyGhlContact, Tag::AnyClubOsUser];
    tags.extend(ghl.iter().chain(bulk).map(|id| Tag::Ghl(id.clone())));
    tags.extend(clubos.map(Tag::ClubOs));
    s.caches.responses.invalidate(tags);
}

/// A stored outcome, with each write's status brought up to date from the outbox (a
/// pending write the relay has since finished reads as applied).
async fn replay(s: &Writer, stored: &str) -> Result<Outcome, GatewayError> {
    let outcome: Outcome = serde_json::from_str(stored).map_err(|_| {
        GatewayError::new(ErrorCode::StoreUnavailable, "a stored answer is unreadable")
    })?;
    refresh(s, outcome).await
}

/// The outcome of a recorded operation whose answer was never stored, from its legs.
async fn from_outbox(s: &Writer, operation_id: String) -> Result<Outcome, GatewayError> {
    let legs = s
        .store
        .operation_legs(&operation_id)
        .await
        .map_err(store_err)?;
    let writes = legs
        .iter()
        .map(|l| WriteRecord {
            system: leg_system(l),
            operation: l.kind.clone(),
            status: WriteStatus::Pending,
            write_id: Some(l.id.clone()),
            error_code: leg_error(l),
            message: None,
            contact_id: None,
        })
        .collect();
    let recorded = Outcome {
        operation_id,
        writes,
        ghl_contact_id: None,
        clubos_user_id: None,
        created_id: None,
    };
    refresh(s, recorded).await
}

/// The system a recorded leg writes to. The outbox holds the wire form this gateway
/// wrote; a value it never writes reads as GHL.
pub fn leg_system(leg: &Leg) -> System {
    System::parse(&leg.system).unwrap_or(System::Ghl)
}

/// The code of a recorded leg's last error.
fn leg_error(leg: &Leg) -> Option<ErrorCode> {
    leg.last_error_code.as_deref().and_then(ErrorCode::parse)
}

/// The message of an applied write undone because a later one of its operation was
/// refused.
const UNDONE: &str = "undone because a later step was refused";

/// The message of a write skipped because an earlier one of its operation failed.
const NOT_ATTEMPTED: &str = "not attempted: an earlier step failed";

/// Brings each write's status up to date from the outbox.
async fn refresh(s: &Writer, mut outcome: Outcome) -> Result<Outcome, GatewayError> {
    let legs = s
        .store
        .operation_legs(&outcome.operation_id)
        .await
        .map_err(store_err)?;
    for w in &mut outcome.writes {
        let Some(leg) = w
            .write_id
            .as_ref()
            .and_then(|id| legs.iter().find(|l| &l.id == id))
        else {
            continue;
        };
        if leg.state == LegState::Done && w.contact_id.is_some() {
            // A bulk write's row keeps its own outcome.
            continue;
        }
        w.status = match leg.state {
            LegState::Done => WriteStatus::Applied,
            LegState::Pending | LegState::InFlight => WriteStatus::Pending,
            LegState::Dead => WriteStatus::Failed,
            LegState::Compensated => {
                w.message = Some(UNDONE.into());
                WriteStatus::Failed
            }
            // A cancelled leg that was tried was refused; one never tried was skipped.
            LegState::Cancelled if w.error_code.is_some() || leg.attempts > 0 => {
                WriteStatus::Failed
            }
            LegState::Cancelled => {
                w.message = Some(NOT_ATTEMPTED.into());
                WriteStatus::Skipped
            }
        };
        if leg.state == LegState::Done {
            w.error_code = None;
            w.message = None;
        } else if w.status == WriteStatus::Failed {
            w.error_code = leg_error(leg).or(w.error_code.take());
            w.message = leg.last_error_message.clone().or(w.message.take());
        }
    }
    let prior = Prior::stored(legs.iter().map(|l| &l.result));
    outcome.ghl_contact_id = outcome.ghl_contact_id.or_else(|| prior.ghl_contact_id());
    outcome.clubos_user_id = outcome.clubos_user_id.or_else(|| prior.clubos_user_id());
    outcome.created_id = outcome.created_id.or_else(|| prior.created_id());
    Ok(outcome)
}
