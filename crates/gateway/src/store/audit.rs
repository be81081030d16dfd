//! The audit trail: who or what asked for each upstream write, about whom, and when. What
//! was sent and what each system answered are the operation's outbox legs; an entry is
//! recorded with them, in the same transaction (see [`Store::begin_audited_operation`]).

use sqlx::{AssertSqlSafe, Row, any::AnyRow};

use super::{Store, StoreError, outbox::Leg};

/// One audited operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The outbox operation (its legs hold what was sent and answered).
    pub operation_id: String,
    /// When it was recorded (epoch ms).
    pub at_ms: i64,
    /// What was done: the mutation's field name (`updateContact`), or a sync operation
    /// (`propagateToGhl`, `propagateToClubOs`, `storeLink`).
    pub operation: String,
    /// Who asked: `caller:<id>` for a request, `sync:<source>` for the sync engine.
    pub actor: String,
    /// Why, in the gateway's words: the sync rule and fields, or the mutation.
    pub reason: String,
    /// The GHL contact it was about, when it was about one.
    pub ghl_contact_id: Option<String>,
    /// The Club OS user it was about, when it was about one.
    pub clubos_user_id: Option<i64>,
}

/// Which entries to read: about a person (either of their records), of one operation,
/// or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub ghl_contact_id: Option<String>,
    pub clubos_user_id: Option<i64>,
    pub operation: Option<String>,
}

/// An entry with its legs, in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedOperation {
    pub entry: AuditEntry,
    pub legs: Vec<Leg>,
}

const COLUMNS: &str =
    "operation_id, at_ms, operation, actor, reason, ghl_contact_id, clubos_user_id";

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        operation_id: row.try_get("operation_id")?,
        at_ms: row.try_get("at_ms")?,
        operation: row.try_get("operation")?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        ghl_contact_id: row.try_get("ghl_contact_id")?,
        clubos_user_id: row.try_get("clubos_user_id")?,
    })
}

/// Inserts `entry` on `conn` (the transaction that records its legs).
pub(super) async fn insert_entry(
    conn: &mut sqlx::AnyConnection,
    entry: &AuditEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO write_audit ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )))
    .bind(entry.operation_id.clone())
    .bind(entry.at_ms)
    .bind(entry.operation.clone())
    .bind(entry.actor.clone())
    .bind(entry.reason.clone())
    .bind(entry.ghl_contact_id.clone())
    .bind(entry.clubos_user_id)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Up to `limit` entries matching `filter`, newest first, each with its legs; `before`
    /// is the `(at_ms, operation_id)` of the last entry of the previous page.
    pub async fn audit_trail(
        &self,
        filter: &AuditFilter,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<AuditedOperation>, StoreError> {
        const OPERATION: &str = "audit_trail";
        let mut conditions = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let person = match (&filter.ghl_contact_id, filter.clubos_user_id) {
            (Some(_), Some(_)) => Some(format!(
                "(ghl_contact_id = {} OR clubos_user_id = {})",
                next(),
                next()
            )),
            (Some(_), None) => Some(format!("ghl_contact_id = {}", next())),
            (None, Some(_)) => Some(format!("clubos_user_id = {}", next())),
            (None, None) => None,
        };
        conditions.extend(person);
        if filter.operation.is_some() {
            conditions.push(format!("operation = {}", next()));
        }
        if before.is_some() {
            let (at, id, at_again) = (next(), next(), next());
            conditions.push(format!(
                "(at_ms < {at} OR (at_ms = {at_again} AND operation_id < {id}))"
            ));
        }
        let limit_at = next();
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM write_audit {clause} \
             ORDER BY at_ms DESC, operation_id DESC LIMIT {limit_at}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(id) = &filter.ghl_contact_id {
            query = query.bind(id.clone());
        }
        if let Some(id) = filter.clubos_user_id {
            query = query.bind(id);
        }
        if let Some(op) = &filter.operation {
            query = query.bind(op.clone());
        }
        if let Some((at, id)) = before {
            query = query.bind(at).bind(id).bind(at);
        }
        let rows = query
            .bind(limit.clamp(0, 1000))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(OPERATION, e))?;
        let entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.query_error(OPERATION, e))?;
        let ids: Vec<String> = entries.iter().map(|e| e.operation_id.clone()).collect();
        let mut legs = self.operations_legs(&ids).await?;
        Ok(entries
            .into_iter()
            .map(|entry| {
                let (mine, rest) = legs
                    .drain(..)
                    .partition(|l: &Leg| l.operation_id == entry.operation_id);
                legs = rest;
                AuditedOperation { entry, legs: mine }
            })
            .collect())
    }

    /// Fills in whom an entry was about once its legs made the record (a create learns its
    /// id from the upstream's answer); what is already known stays.
    pub async fn audit_about(
        &self,
        operation_id: &str,
        ghl_contact_id: Option<&str>,
        clubos_user_id: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE write_audit SET ghl_contact_id = COALESCE(ghl_contact_id, $2), \
             clubos_user_id = COALESCE(clubos_user_id, $3) WHERE operation_id = $1",
        )
        .bind(operation_id.to_owned())
        .bind(ghl_contact_id.map(str::to_owned))
        .bind(clubos_user_id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("audit_about", e))?;
        Ok(())
    }

    /// Deletes the entries recorded before `cutoff_ms` with their finished legs; an entry
    /// whose legs are not all finished stays until they are. Returns the entries deleted.
    pub async fn purge_audit(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.retrying_races("purge_audit", || async move {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "DELETE FROM outbox WHERE state IN ('done', 'dead', 'compensated', 'cancelled') \
                 AND operation_id IN (SELECT operation_id FROM write_audit WHERE at_ms < $1) \
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.operation_id = outbox.operation_id \
                 AND o.state NOT IN ('done', 'dead', 'compensated', 'cancelled'))",
            )
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
            let gone = sqlx::query(
                "DELETE FROM write_audit WHERE at_ms < $1 AND NOT EXISTS \
                 (SELECT 1 FROM outbox o WHERE o.operation_id = write_audit.operation_id)",
            )
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(gone)
        })
        .await
    }
}
