//! Drift reports: what each reconcile run found between the read model and the
//! upstreams (and repaired), kept for operators.

use sqlx::Row;

use super::records::RecordKind;
use super::{Store, StoreError, now_ms};

/// What one reconcile run found for one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Drift {
    /// Records compared (the upstream's).
    pub compared: i64,
    /// Ids the upstream has and the store lacked.
    pub missing: Vec<String>,
    /// Ids the store held and the upstream no longer has.
    pub extra: Vec<String>,
    /// Ids whose stored copy differed from the upstream's.
    pub differing: Vec<String>,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftReport {
    pub id: i64,
    pub kind: RecordKind,
    pub ran_at_ms: i64,
    pub compared: i64,
    pub missing: i64,
    pub extra: i64,
    pub differing: i64,
    /// Up to [`REPORTED_IDS`] ids of each difference.
    pub examples: Drift,
}

/// How many ids of each difference a report keeps.
pub const REPORTED_IDS: usize = 20;

impl Store {
    /// Stores what a run found for `kind`; the counts are whole, the ids cut to
    /// [`REPORTED_IDS`] of each.
    pub async fn put_drift_report(
        &self,
        kind: RecordKind,
        drift: &Drift,
    ) -> Result<i64, StoreError> {
        let cut = |ids: &[String]| ids.iter().take(REPORTED_IDS).cloned().collect();
        let examples = Drift {
            compared: drift.compared,
            missing: cut(&drift.missing),
            extra: cut(&drift.extra),
            differing: cut(&drift.differing),
        };
        let details = serde_json::to_string(&examples).unwrap_or_else(|_| "{}".into());
        let count = |ids: &[String]| i64::try_from(ids.len()).unwrap_or(i64::MAX);
        self.retrying_races("put_drift_report", || {
            let details = details.clone();
            async move {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM drift_reports")
                    .fetch_one(&mut *tx)
                    .await?;
                let id: i64 = row.try_get("next")?;
                sqlx::query(
                    "INSERT INTO drift_reports (id, kind, ran_at_ms, compared, missing, extra, \
                     differing, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(kind.as_str())
                .bind(now_ms())
                .bind(drift.compared)
                .bind(count(&drift.missing))
                .bind(count(&drift.extra))
                .bind(count(&drift.differing))
                .bind(details)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }
        })
        .await
    }

    /// The latest `limit` reports, newest first.
    pub async fn drift_reports(&self, limit: i64) -> Result<Vec<DriftReport>, StoreError> {
        const OPERATION: &str = "drift_reports";
        let rows = sqlx::query(
            "SELECT id, kind, ran_at_ms, compared, missing, extra, differing, details \
             FROM drift_reports ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| {
                let field = |e| self.query_error(OPERATION, e);
                let kind: String = row.try_get("kind").map_err(field)?;
                let details: String = row.try_get("details").map_err(field)?;
                Ok(DriftReport {
                    id: row.try_get("id").map_err(field)?,
                    kind: kind.parse()?,
                    ran_at_ms: row.try_get("ran_at_ms").map_err(field)?,
                    compared: row.try_get("compared").map_err(field)?,
                    missing: row.try_get("missing").map_err(field)?,
                    extra: row.try_get("extra").map_err(field)?,
                    differing: row.try_get("differing").map_err(field)?,
                    examples: serde_json::from_str(&details).unwrap_or_default(),
                })
            })
            .collect()
    }
}
