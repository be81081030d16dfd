//! Idempotency keys: a mutation sent again with the same key gets the first answer back
//! instead of writing to GHL or Club OS a second time.
//!
//! A key lives in `(scope, key)` (the scope is the caller and the mutation, so two callers
//! never share keys). Claiming is one atomic write: an `INSERT ... ON CONFLICT DO NOTHING`,
//! or a conditional `UPDATE` that takes over a key whose previous use lapsed. Never "read,
//! then insert", which lets two concurrent retries both through.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, is_write_race};

/// How often a claim runs its transaction again after losing a race with another writer.
/// Each lost round means another writer committed, so a handful of rounds is plenty.
const CLAIM_ATTEMPTS: u32 = 8;

/// How often one transaction looks for the key again when it vanished between the failed
/// insert and the read (released or purged meanwhile; PostgreSQL only, as SQLite's write
/// transaction holds the whole database).
const CLAIM_ROUNDS: u32 = 8;

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its previous use expired): the caller owns it and must
    /// [`Store::complete_key`] or [`Store::release_key`].
    Claimed,
    /// The key finished before with this fingerprint: replay this stored response (JSON
    /// text), make no upstream call.
    Replay(String),
    /// Another request holds the key right now (claimed, not completed, lease not expired).
    InProgress,
    /// The request that claimed the key recorded this outbox operation and then stopped
    /// answering (its lease passed, no response stored): it died, and the relay owns its
    /// work. Its answer is the operation's legs as they stand; waiting would gain nothing.
    Orphaned(String),
    /// The key was used with a different input (fingerprint differs).
    Reused,
}

impl Store {
    /// Atomically claims `(scope, key)` for `fingerprint` at `now_ms`, with a lease of
    /// `lease_ms`. Of any number of concurrent claims of a new key exactly one gets
    /// [`Claim::Claimed`].
    ///
    /// The key counts as absent, and is claimed afresh whatever the fingerprint, when:
    /// - its `created_at_ms` is older than `retention_ms` (but not while an outbox operation
    ///   recorded under it still has `pending` or `in_flight` legs: a retry must not start
    ///   the same write again while the first is still being delivered), or
    /// - it was claimed, never completed, its lease has passed and no outbox operation was
    ///   recorded under it: the holder died before writing anything durable. A holder that
    ///   recorded an operation (through [`Store::begin_operation`]) leaves work the relay
    ///   finishes, so its key is [`Claim::Orphaned`] until it is completed.
    pub async fn claim_key(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now_ms: i64,
        lease_ms: i64,
        retention_ms: i64,
    ) -> Result<Claim, StoreError> {
        let request = KeyClaim {
            scope,
            key,
            fingerprint,
            retention_ms,
        };
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.begin_write().await?;
                let claim = claim_in(&mut tx, &request, None, now_ms, lease_ms).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(claim)
            }
            .await;
            match result {
                Ok(claim) => return Ok(claim),
                Err(error) if attempt < CLAIM_ATTEMPTS && is_write_race(&error) => attempt += 1,
                Err(error) => return Err(self.query_error("claim_key", error)),
            }
        }
    }

    /// Stores the final response (JSON text) of a claimed key; later claims with the same
    /// fingerprint get [`Claim::Replay`]. Completing again replaces the response (an
    /// operation first answered as pending may later be answered as completed). A key that
    /// does not exist (released, purged, never claimed) is [`StoreError::NotFound`].
    pub async fn complete_key(
        &self,
        scope: &str,
        key: &str,
        response: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE idempotency_keys SET response = $3, completed_at_ms = $4 \
             WHERE scope = $1 AND key = $2",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .bind(response.to_owned())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("complete_key", e))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "idempotency key",
                id: format!("{scope}/{key}"),
            });
        }
        Ok(())
    }

    /// Gives a claimed key back (nothing was written upstream), so the same key can be used
    /// again at once. A completed key keeps its response: releasing it does nothing, as does
    /// releasing a key that does not exist. A caller that recorded outbox legs under the key
    /// cancels them first.
    pub async fn release_key(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 AND response IS NULL",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("release_key", e))?;
        Ok(())
    }

    /// Deletes keys older than the retention, except those whose outbox operation still has
    /// `pending` or `in_flight` legs; returns how many were deleted.
    pub async fn purge_keys(&self, now_ms: i64, retention_ms: i64) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM idempotency_keys WHERE {RETENTION_EXPIRED}");
        let result = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms.saturating_sub(retention_ms))
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_error("purge_keys", e))?;
        Ok(result.rows_affected())
    }

    /// The outbox operation recorded under a key by [`Store::begin_operation`], if any: what
    /// a request that got [`Claim::InProgress`] can report as still being delivered.
    pub async fn key_operation(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT operation_id FROM idempotency_keys WHERE scope = $1 AND key = $2")
                .bind(scope.to_owned())
                .bind(key.to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.query_error("key_operation", e))?;
        match row {
            Some(row) => row
                .try_get::<Option<String>, _>("operation_id")
                .map_err(|e| self.query_error("key_operation", e)),
            None => Ok(None),
        }
    }
}

/// A key to claim, as [`Store::claim_key`] and [`Store::begin_operation`] take it.
pub(super) struct KeyClaim<'a> {
    pub(super) scope: &'a str,
    pub(super) key: &'a str,
    pub(super) fingerprint: &'a str,
    pub(super) retention_ms: i64,
}

/// The condition, on an `idempotency_keys` row, of being older than the retention with no
/// outbox work still owed; `$1` in [`Store::purge_keys`] and `$7` in the claim is the cutoff
/// (`now - retention`). When `operation_id` is NULL the subquery matches nothing.
const RETENTION_EXPIRED: &str = "created_at_ms < $1 AND NOT EXISTS (\
     SELECT 1 FROM outbox WHERE outbox.operation_id = idempotency_keys.operation_id \
     AND outbox.state IN ('pending', 'in_flight'))";

/// Claims a key inside the caller's write transaction, recording `operation_id` with it, so
/// that [`Store::begin_operation`] can claim and record legs atomically.
///
/// Each step is one statement that either wins the key or does not: on PostgreSQL a
/// concurrent insert of the same key makes the `INSERT` wait for that transaction and then
/// do nothing, and a concurrent takeover makes the `UPDATE` wait and then re-check its
/// condition on the new row, which no longer matches.
pub(super) async fn claim_in(
    conn: &mut AnyConnection,
    request: &KeyClaim<'_>,
    operation_id: Option<&str>,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Claim, sqlx::Error> {
    let locked_until_ms = now_ms.saturating_add(lease_ms);
    let cutoff_ms = now_ms.saturating_sub(request.retention_ms);
    let takeover = format!(
        "UPDATE idempotency_keys \
         SET fingerprint = $3, response = NULL, operation_id = $4, locked_until_ms = $5, \
             created_at_ms = $6, completed_at_ms = NULL \
         WHERE scope = $1 AND key = $2 AND (\
             (response IS NULL AND operation_id IS NULL AND locked_until_ms <= $6) \
             OR ({}))",
        RETENTION_EXPIRED.replace("$1", "$7")
    );
    for _ in 0..CLAIM_ROUNDS {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys \
             (scope, key, fingerprint, response, operation_id, locked_until_ms, \
              created_at_ms, completed_at_ms) \
             VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL) \
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(request.scope.to_owned())
        .bind(request.key.to_owned())
        .bind(request.fingerprint.to_owned())
        .bind(operation_id.map(str::to_owned))
        .bind(locked_until_ms)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Claimed);
        }

        let taken = sqlx::query(sqlx::AssertSqlSafe(takeover.clone()))
            .bind(request.scope.to_owned())
            .bind(request.key.to_owned())
            .bind(request.fingerprint.to_owned())
            .bind(operation_id.map(str::to_owned))
            .bind(locked_until_ms)
            .bind(now_ms)
            .bind(cutoff_ms)
            .execute(&mut *conn)
            .await?;
        if taken.rows_affected() == 1 {
            return Ok(Claim::Claimed);
        }

        let row = sqlx::query(
            "SELECT fingerprint, response, operation_id, locked_until_ms FROM idempotency_keys \
             WHERE scope = $1 AND key = $2",
        )
        .bind(request.scope.to_owned())
        .bind(request.key.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            // Released or purged since the insert failed: try to insert again.
            continue;
        };
        let fingerprint: String = row.try_get("fingerprint")?;
        let response: Option<String> = row.try_get("response")?;
        let recorded: Option<String> = row.try_get("operation_id")?;
        let locked_until_ms: i64 = row.try_get("locked_until_ms")?;
        return Ok(if fingerprint != request.fingerprint {
            Claim::Reused
        } else if let Some(response) = response {
            Claim::Replay(response)
        } else if let Some(operation_id) = recorded.filter(|_| locked_until_ms <= now_ms) {
            Claim::Orphaned(operation_id)
        } else {
            Claim::InProgress
        });
    }
    // The key keeps appearing and vanishing: someone is busy with it, so it is in progress.
    Ok(Claim::InProgress)
}
