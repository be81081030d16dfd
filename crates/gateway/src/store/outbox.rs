//! The outbox: the durable record of the upstream writes a mutation owes, one row per leg
//! (one call to GHL or Club OS), so that a write the process could not finish is finished by
//! the relay instead of being silently half done.
//!
//! A request records all its legs in one transaction ([`Store::begin_operation`]), leased to
//! itself, and runs them inline. If it dies, the lease lapses and the relay leases them
//! ([`Store::lease_due`]). Legs of one operation run in `seq` order: a leg is due only once
//! every earlier leg of its operation is `done`.

use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::audit::{AuditEntry, insert_entry};
use super::idempotency::{Claim, KeyClaim, claim_in};
use super::{Backend, MAX_IDS_PER_QUERY, Store, StoreError, is_write_race, now_ms, placeholders};

/// How often a write transaction runs again after losing a race with another writer
/// (a PostgreSQL serialization failure or deadlock).
const WRITE_ATTEMPTS: u32 = 8;

/// The columns of a leg, in the order [`Store::leg_from_row`] reads them by name.
const LEG_COLUMNS: &str = "id, operation_id, seq, system, kind, payload, state, attempts, \
                           lapses, next_attempt_at_ms, last_error_code, last_error_message, result, \
                           created_at_ms, updated_at_ms";

/// Where a leg stands. Stored as text (see [`LegState::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegState {
    /// Waiting for its `next_attempt_at_ms` (and for the earlier legs of its operation).
    Pending,
    /// Leased to a runner until `next_attempt_at_ms`; due again if that passes.
    InFlight,
    /// The upstream write happened; `result` holds what it produced.
    Done,
    /// Given up after failing; needs a person (see [`Store::retry_leg`]).
    Dead,
    /// It was done, and then undone because a later leg was rejected.
    Compensated,
    /// It will never run (the operation was abandoned before it).
    Cancelled,
}

impl LegState {
    /// Every state, in the order [`Store::leg_counts`] reports them.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::InFlight,
        Self::Done,
        Self::Dead,
        Self::Compensated,
        Self::Cancelled,
    ];

    /// The stored text: stable across releases, since rows outlive the binary that wrote them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Compensated => "compensated",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for LegState {
    /// Same text as stored, so that logs, metrics and the database agree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LegState {
    type Err = StoreError;

    /// Reads the stored text back; anything else is a row this version does not understand.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| StoreError::UnknownValue {
                field: "leg state",
                value: text.to_owned(),
            })
    }
}

/// One stored leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Sortable id made by [`new_id`].
    pub id: String,
    /// Groups the legs of one mutation.
    pub operation_id: String,
    /// The leg's place in its operation, from 0.
    pub seq: i32,
    /// Which upstream, e.g. `"ghl"` or `"clubos"`.
    pub system: String,
    /// What to do there, e.g. `"update_contact"`.
    pub kind: String,
    /// The request, as JSON text.
    pub payload: String,
    /// Where it stands.
    pub state: LegState,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Leases that lapsed before the leg was finished: its runner died or hung while
    /// holding it (counted by [`Store::lease_due`] when it takes the leg over).
    pub lapses: i32,
    /// When a pending leg is due, or when an in-flight leg's lease ends (epoch ms).
    pub next_attempt_at_ms: i64,
    /// The stable code of the last failure, never an upstream body.
    pub last_error_code: Option<String>,
    /// The gateway's message for the last failure, when one was recorded.
    pub last_error_message: Option<String>,
    /// What a done leg produced (e.g. the created record's id), as JSON text.
    pub result: Option<String>,
    /// When the leg was recorded (epoch ms).
    pub created_at_ms: i64,
    /// When the leg last changed (epoch ms).
    pub updated_at_ms: i64,
}

/// A leg to record with [`Store::begin_operation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeg {
    /// Which upstream, e.g. `"ghl"` or `"clubos"`.
    pub system: String,
    /// What to do there, e.g. `"update_contact"`.
    pub kind: String,
    /// The request, as JSON text.
    pub payload: String,
}

/// A new id for a leg or an operation: 26 characters of `[0-9a-z]`, the creation time in
/// milliseconds (9 base-36 digits, enough until the year 5000) then 17 random ones (about
/// 88 bits), so that ids sort by creation to the millisecond and never collide in practice.
pub fn new_id() -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = [b'0'; 26];
    let mut ms = u64::try_from(now_ms()).unwrap_or(0);
    for slot in id[..9].iter_mut().rev() {
        *slot = ALPHABET[(ms % 36) as usize];
        ms /= 36;
    }
    let mut rng = rand::rng();
    for slot in &mut id[9..] {
        *slot = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    id.iter().map(|&b| char::from(b)).collect()
}

impl Store {
    /// Records every leg of one operation in one transaction, all `in_flight` and leased to
    /// the caller until `now_ms + lease_ms` (the request runs them inline; if the process
    /// dies, the relay picks them up once the lease has passed). Legs get ids from
    /// [`new_id`] and `seq` 0, 1, ... in the order given.
    ///
    /// With `key = Some((scope, key, fingerprint, retention_ms))` the same transaction first
    /// claims that idempotency key (as [`Store::claim_key`], leased for `lease_ms` too, and
    /// remembering `operation_id`), and records the legs only when the claim is
    /// [`Claim::Claimed`]; otherwise it returns the claim and no legs. Without a key the
    /// claim is always `Claimed`. Either everything is recorded or nothing is.
    pub async fn begin_operation(
        &self,
        operation_id: &str,
        legs: &[NewLeg],
        now_ms: i64,
        lease_ms: i64,
        key: Option<(&str, &str, &str, i64)>,
    ) -> Result<(Claim, Vec<Leg>), StoreError> {
        self.begin(operation_id, legs, now_ms, lease_ms, key, None)
            .await
    }

    /// [`Store::begin_operation`], recording `audit` (whose `operation_id` must be
    /// `operation_id`) with the legs, in the same transaction: an operation is in the
    /// audit trail exactly when its legs are recorded.
    pub async fn begin_audited_operation(
        &self,
        legs: &[NewLeg],
        now_ms: i64,
        lease_ms: i64,
        key: Option<(&str, &str, &str, i64)>,
        audit: &AuditEntry,
    ) -> Result<(Claim, Vec<Leg>), StoreError> {
        self.begin(
            &audit.operation_id,
            legs,
            now_ms,
            lease_ms,
            key,
            Some(audit),
        )
        .await
    }

    async fn begin(
        &self,
        operation_id: &str,
        legs: &[NewLeg],
        now_ms: i64,
        lease_ms: i64,
        key: Option<(&str, &str, &str, i64)>,
        audit: Option<&AuditEntry>,
    ) -> Result<(Claim, Vec<Leg>), StoreError> {
        let key = key.map(|(scope, key, fingerprint, retention_ms)| KeyClaim {
            scope,
            key,
            fingerprint,
            retention_ms,
        });
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.begin_write().await?;
                if let Some(key) = &key {
                    let claim =
                        claim_in(&mut tx, key, Some(operation_id), now_ms, lease_ms).await?;
                    if claim != Claim::Claimed {
                        tx.rollback().await?;
                        return Ok((claim, Vec::new()));
                    }
                }
                let recorded = insert_legs(&mut tx, operation_id, legs, now_ms, lease_ms).await?;
                if let Some(entry) = audit {
                    insert_entry(&mut tx, entry).await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>((Claim::Claimed, recorded))
            }
            .await;
            match result {
                Ok(outcome) => return Ok(outcome),
                Err(error) if attempt < WRITE_ATTEMPTS && is_write_race(&error) => attempt += 1,
                Err(error) => return Err(self.query_error("begin_operation", error)),
            }
        }
    }

    /// Leases up to `limit` due legs to the caller until `now_ms + lease_ms`, oldest due
    /// first: legs `pending` whose `next_attempt_at_ms` has come, and legs `in_flight` whose
    /// lease has passed (their runner died; `lapses` counts it). They become `in_flight`;
    /// `attempts` is left for [`Store::leg_failed`]. A leg is due only if every earlier leg of its operation is
    /// `done`, so an operation's legs run in `seq` order. Concurrent callers (relays, or
    /// gateway replicas sharing PostgreSQL) never lease the same leg.
    pub async fn lease_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Leg>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        // The one backend-specific query of the outbox. On PostgreSQL several replicas lease
        // at once under READ COMMITTED: `FOR UPDATE` locks the chosen rows until commit and
        // `SKIP LOCKED` makes another leaser pass over them and take other due legs instead
        // of waiting (a row leased and committed meanwhile is re-checked by PostgreSQL and
        // no longer matches). SQLite has neither clause and needs neither: `begin_write`
        // takes the database's write lock up front, so leasers run one after another.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let select = format!(
            "SELECT {LEG_COLUMNS} FROM outbox o \
             WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at_ms <= $1 \
             AND NOT EXISTS (SELECT 1 FROM outbox e \
                 WHERE e.operation_id = o.operation_id AND e.seq < o.seq AND e.state <> 'done') \
             ORDER BY o.next_attempt_at_ms, o.id \
             LIMIT $2{lock}"
        );
        let lease_until_ms = now_ms.saturating_add(lease_ms);
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.begin_write().await?;
                let rows = sqlx::query(AssertSqlSafe(select.clone()))
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut legs = Vec::with_capacity(rows.len());
                for row in &rows {
                    legs.push(leg_from_row(row)?);
                }
                for chunk in legs.chunks(MAX_IDS_PER_QUERY) {
                    let sql = format!(
                        "UPDATE outbox SET \
                         lapses = lapses + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END, \
                         state = 'in_flight', next_attempt_at_ms = $1, \
                         updated_at_ms = $2 WHERE id IN ({})",
                        placeholders(3, chunk.len())
                    );
                    let mut update = sqlx::query(AssertSqlSafe(sql))
                        .bind(lease_until_ms)
                        .bind(now_ms);
                    for leg in chunk {
                        update = update.bind(leg.id.clone());
                    }
                    update.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                for leg in &mut legs {
                    if leg.state == LegState::InFlight {
                        leg.lapses += 1;
                    }
                    leg.state = LegState::InFlight;
                    leg.next_attempt_at_ms = lease_until_ms;
                    leg.updated_at_ms = now_ms;
                }
                Ok::<_, LegError>(legs)
            }
            .await;
            match result {
                Ok(legs) => return Ok(legs),
                Err(LegError::Sql(error)) if attempt < WRITE_ATTEMPTS && is_write_race(&error) => {
                    attempt += 1;
                }
                Err(error) => return Err(error.into_store(self, "lease_due")),
            }
        }
    }

    /// Marks a leg done and stores what it produced (JSON). The upstream write happened, so
    /// this is recorded whatever the leg's state was (a slow runner may finish a leg whose
    /// lease had passed). An unknown id is [`StoreError::NotFound`].
    pub async fn leg_done(
        &self,
        id: &str,
        result: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let outcome = sqlx::query(
            "UPDATE outbox SET state = 'done', result = $2, updated_at_ms = $3 WHERE id = $1",
        )
        .bind(id.to_owned())
        .bind(result.map(str::to_owned))
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("leg_done", e))?;
        found(outcome.rows_affected(), id)
    }

    /// Gives an `in_flight` leg back to the relay without counting an attempt: `pending`,
    /// due at `now_ms` (a request that stops early hands over the legs it did not run; they
    /// still wait for the earlier legs of their operation). Returns false, changing nothing,
    /// when the leg is not in flight (or does not exist).
    pub async fn leg_release(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let outcome = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at_ms = $2, updated_at_ms = $2 \
             WHERE id = $1 AND state = 'in_flight'",
        )
        .bind(id.to_owned())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("leg_release", e))?;
        Ok(outcome.rows_affected() > 0)
    }

    /// Records a failed attempt: `attempts + 1`, `last_error_code`, and either `pending`
    /// again, due at `retry_at_ms`, or `dead` when `dead` is true. Only a `pending` or
    /// `in_flight` leg can fail; a leg already finished (done, dead, compensated, cancelled)
    /// is left as it is, so a late failure report never undoes it. Returns the leg as it now
    /// stands; an unknown id is [`StoreError::NotFound`].
    pub async fn leg_failed(
        &self,
        id: &str,
        error_code: &str,
        retry_at_ms: i64,
        dead: bool,
        now_ms: i64,
    ) -> Result<Leg, StoreError> {
        let state = if dead {
            LegState::Dead
        } else {
            LegState::Pending
        };
        let select = format!("SELECT {LEG_COLUMNS} FROM outbox WHERE id = $1");
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error_code = $2, \
                     state = $3, next_attempt_at_ms = $4, updated_at_ms = $5 \
                     WHERE id = $1 AND state IN ('pending', 'in_flight')",
                )
                .bind(id.to_owned())
                .bind(error_code.to_owned())
                .bind(state.as_str())
                .bind(retry_at_ms)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(AssertSqlSafe(select.clone()))
                    .bind(id.to_owned())
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.as_ref().map(leg_from_row).transpose()
            }
            .await;
            match result {
                Ok(Some(leg)) => return Ok(leg),
                Ok(None) => {
                    return Err(StoreError::NotFound {
                        what: "outbox leg",
                        id: id.to_owned(),
                    });
                }
                Err(LegError::Sql(error)) if attempt < WRITE_ATTEMPTS && is_write_race(&error) => {
                    attempt += 1;
                }
                Err(error) => return Err(error.into_store(self, "leg_failed")),
            }
        }
    }

    /// Sets a terminal state other than done: [`LegState::Compensated`] (a done leg was
    /// undone) or [`LegState::Cancelled`] (the leg will never run). Other states have their
    /// own methods and are refused with [`StoreError::InvalidArgument`]; an unknown id is
    /// [`StoreError::NotFound`].
    pub async fn leg_set_state(
        &self,
        id: &str,
        state: LegState,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if !matches!(state, LegState::Compensated | LegState::Cancelled) {
            return Err(StoreError::InvalidArgument {
                operation: "leg_set_state",
                reason: "only `compensated` and `cancelled` are set directly \
                         (use leg_done, leg_failed, retry_leg or lease_due)",
            });
        }
        let outcome = sqlx::query("UPDATE outbox SET state = $2, updated_at_ms = $3 WHERE id = $1")
            .bind(id.to_owned())
            .bind(state.as_str())
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_error("leg_set_state", e))?;
        found(outcome.rows_affected(), id)
    }

    /// Dead-letters an in-flight leg without an attempt of its own (its runners kept dying:
    /// see [`Leg::lapses`]), with the gateway's code and message. Returns false if the leg
    /// is not in flight (a slow runner finished it meanwhile) or does not exist.
    pub async fn leg_give_up(
        &self,
        id: &str,
        error_code: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let outcome = sqlx::query(
            "UPDATE outbox SET state = 'dead', last_error_code = $2, last_error_message = $3, \
             updated_at_ms = $4 WHERE id = $1 AND state = 'in_flight'",
        )
        .bind(id.to_owned())
        .bind(error_code.to_owned())
        .bind(message.to_owned())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("leg_give_up", e))?;
        Ok(outcome.rows_affected() > 0)
    }

    /// Records the gateway's message for a leg's last failure (its code is set by
    /// [`Store::leg_failed`]).
    pub async fn leg_error_message(&self, id: &str, message: &str) -> Result<(), StoreError> {
        let outcome = sqlx::query("UPDATE outbox SET last_error_message = $2 WHERE id = $1")
            .bind(id.to_owned())
            .bind(message.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_error("leg_error_message", e))?;
        found(outcome.rows_affected(), id)
    }

    /// Puts a dead leg back to `pending`, due at `now_ms`, with `attempts` and `lapses`
    /// reset (an admin's retry); `last_error_code` is kept as history. Returns false if the leg is not dead
    /// (or does not exist).
    pub async fn retry_leg(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let outcome = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, lapses = 0, next_attempt_at_ms = $2, \
             updated_at_ms = $2 WHERE id = $1 AND state = 'dead'",
        )
        .bind(id.to_owned())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("retry_leg", e))?;
        Ok(outcome.rows_affected() > 0)
    }

    /// One leg by id.
    pub async fn leg(&self, id: &str) -> Result<Option<Leg>, StoreError> {
        let sql = format!("SELECT {LEG_COLUMNS} FROM outbox WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.query_error("leg", e))?;
        row.as_ref()
            .map(leg_from_row)
            .transpose()
            .map_err(|e| e.into_store(self, "leg"))
    }

    /// The legs of one operation, in `seq` order.
    pub async fn operation_legs(&self, operation_id: &str) -> Result<Vec<Leg>, StoreError> {
        let sql = format!("SELECT {LEG_COLUMNS} FROM outbox WHERE operation_id = $1 ORDER BY seq");
        let query = sqlx::query(AssertSqlSafe(sql)).bind(operation_id.to_owned());
        self.fetch_legs("operation_legs", query).await
    }

    /// The legs of the operations `ids`, by operation and then `seq`.
    pub async fn operations_legs(&self, ids: &[String]) -> Result<Vec<Leg>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
            let sql = format!(
                "SELECT {LEG_COLUMNS} FROM outbox WHERE operation_id IN ({}) \
                 ORDER BY operation_id, seq",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            out.extend(self.fetch_legs("operations_legs", query).await?);
        }
        Ok(out)
    }

    /// Up to `limit` legs in `state`, oldest (by creation) first: dead letters to show an
    /// admin, or the oldest pending leg's age for a metric.
    pub async fn legs_in_state(&self, state: LegState, limit: i64) -> Result<Vec<Leg>, StoreError> {
        let sql = format!(
            "SELECT {LEG_COLUMNS} FROM outbox WHERE state = $1 \
             ORDER BY created_at_ms, id LIMIT $2"
        );
        let query = sqlx::query(AssertSqlSafe(sql))
            .bind(state.as_str())
            .bind(limit.max(0));
        self.fetch_legs("legs_in_state", query).await
    }

    /// Whether any leg of `kind` (e.g. `create_user`) is still owed: pending or in flight.
    pub async fn owes_leg_of_kind(&self, kind: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM outbox WHERE kind = $1 \
             AND state IN ('pending', 'in_flight') LIMIT 1",
        )
        .bind(kind.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.query_error("owes_leg_of_kind", e))?;
        Ok(row.is_some())
    }

    /// How many legs are in each state, every state listed (zero when none), in the order of
    /// [`LegState::ALL`], so a metric can be set for each.
    pub async fn leg_counts(&self) -> Result<Vec<(LegState, i64)>, StoreError> {
        const OPERATION: &str = "leg_counts";
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(OPERATION, e))?;
        let mut counts: Vec<(LegState, i64)> = LegState::ALL.iter().map(|&s| (s, 0)).collect();
        for row in &rows {
            let state: String = row
                .try_get("state")
                .map_err(|e| self.query_error(OPERATION, e))?;
            let n: i64 = row
                .try_get("n")
                .map_err(|e| self.query_error(OPERATION, e))?;
            let state: LegState = state.parse()?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = n;
            }
        }
        Ok(counts)
    }

    async fn fetch_legs(
        &self,
        operation: &'static str,
        query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<Vec<Leg>, StoreError> {
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(operation, e))?;
        rows.iter()
            .map(|row| leg_from_row(row).map_err(|e| e.into_store(self, operation)))
            .collect()
    }
}

/// Inserts the legs of an operation, in-flight and leased until `now_ms + lease_ms`.
async fn insert_legs(
    conn: &mut AnyConnection,
    operation_id: &str,
    legs: &[NewLeg],
    now_ms: i64,
    lease_ms: i64,
) -> Result<Vec<Leg>, sqlx::Error> {
    let mut recorded = Vec::with_capacity(legs.len());
    for (seq, new) in legs.iter().enumerate() {
        let leg = Leg {
            id: new_id(),
            operation_id: operation_id.to_owned(),
            seq: i32::try_from(seq).unwrap_or(i32::MAX),
            system: new.system.clone(),
            kind: new.kind.clone(),
            payload: new.payload.clone(),
            state: LegState::InFlight,
            attempts: 0,
            lapses: 0,
            next_attempt_at_ms: now_ms.saturating_add(lease_ms),
            last_error_code: None,
            last_error_message: None,
            result: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        sqlx::query(
            "INSERT INTO outbox (id, operation_id, seq, system, kind, payload, state, attempts, \
             next_attempt_at_ms, last_error_code, result, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $11)",
        )
        .bind(leg.id.clone())
        .bind(leg.operation_id.clone())
        .bind(leg.seq)
        .bind(leg.system.clone())
        .bind(leg.kind.clone())
        .bind(leg.payload.clone())
        .bind(leg.state.as_str())
        .bind(leg.attempts)
        .bind(leg.next_attempt_at_ms)
        .bind(leg.created_at_ms)
        .bind(leg.updated_at_ms)
        .execute(&mut *conn)
        .await?;
        recorded.push(leg);
    }
    Ok(recorded)
}

/// Why reading a leg failed: the driver, or a state this version does not know.
enum LegError {
    Sql(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for LegError {
    fn from(error: sqlx::Error) -> Self {
        Self::Sql(error)
    }
}

impl LegError {
    fn into_store(self, store: &Store, operation: &'static str) -> StoreError {
        match self {
            Self::Sql(error) => store.query_error(operation, error),
            Self::Store(error) => error,
        }
    }
}

fn leg_from_row(row: &AnyRow) -> Result<Leg, LegError> {
    let state: String = row.try_get("state")?;
    Ok(Leg {
        id: row.try_get("id")?,
        operation_id: row.try_get("operation_id")?,
        seq: row.try_get("seq")?,
        system: row.try_get("system")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        state: state.parse().map_err(LegError::Store)?,
        attempts: row.try_get("attempts")?,
        lapses: row.try_get("lapses")?,
        next_attempt_at_ms: row.try_get("next_attempt_at_ms")?,
        last_error_code: row.try_get("last_error_code")?,
        last_error_message: row.try_get("last_error_message")?,
        result: row.try_get("result")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

/// `Ok` when a write touched a row, [`StoreError::NotFound`] for the leg otherwise.
fn found(rows_affected: u64, id: &str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound {
            what: "outbox leg",
            id: id.to_owned(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_text() {
        for state in LegState::ALL {
            assert_eq!(state.as_str().parse::<LegState>().unwrap(), state);
        }
        assert!("compensating".parse::<LegState>().is_err());
    }

    #[test]
    fn ids_are_26_base36_chars_that_sort_by_creation() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        for id in [&first, &second] {
            assert_eq!(id.len(), 26, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
                "{id}"
            );
        }
        assert!(first < second, "{first} !< {second}");
        assert_ne!(new_id(), new_id());
    }
}
