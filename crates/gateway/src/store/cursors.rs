//! Where each change source of the sync engine stands, kept so that a restart resumes
//! from it.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A source's stored position and how its last run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCursor {
    /// The source's own position (for the Club OS poll, an ISO-8601 instant); empty until
    /// a run succeeded.
    pub position: String,
    /// When the last run finished without an error, epoch milliseconds.
    pub last_success_ms: Option<i64>,
    /// What the last failed run reported (a code and message, never a secret).
    pub last_error: Option<String>,
}

impl Store {
    /// The stored cursor of `source`, if it ever ran.
    pub async fn sync_cursor(&self, source: &str) -> Result<Option<SyncCursor>, StoreError> {
        const OPERATION: &str = "sync_cursor";
        let row = sqlx::query(
            "SELECT position, last_success_ms, last_error FROM sync_cursors WHERE source = $1",
        )
        .bind(source.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        row.map(|row| {
            let field = |e| self.query_error(OPERATION, e);
            Ok(SyncCursor {
                position: row.try_get("position").map_err(field)?,
                last_success_ms: row.try_get("last_success_ms").map_err(field)?,
                last_error: row.try_get("last_error").map_err(field)?,
            })
        })
        .transpose()
    }

    /// Every source's stored cursor, by source name.
    pub async fn sync_cursors(&self) -> Result<Vec<(String, SyncCursor)>, StoreError> {
        const OPERATION: &str = "sync_cursors";
        let rows = sqlx::query(
            "SELECT source, position, last_success_ms, last_error FROM sync_cursors \
             ORDER BY source",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| {
                let field = |e| self.query_error(OPERATION, e);
                Ok((
                    row.try_get("source").map_err(field)?,
                    SyncCursor {
                        position: row.try_get("position").map_err(field)?,
                        last_success_ms: row.try_get("last_success_ms").map_err(field)?,
                        last_error: row.try_get("last_error").map_err(field)?,
                    },
                ))
            })
            .collect()
    }

    /// Records a successful run of `source` that reached `position`.
    pub async fn advance_sync_cursor(
        &self,
        source: &str,
        position: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sync_cursors (source, position, updated_at_ms, last_success_ms, last_error) \
             VALUES ($1, $2, $3, $3, NULL) ON CONFLICT (source) DO UPDATE SET \
             position = excluded.position, updated_at_ms = excluded.updated_at_ms, \
             last_success_ms = excluded.last_success_ms, last_error = NULL",
        )
        .bind(source.to_owned())
        .bind(position.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("advance_sync_cursor", e))?;
        Ok(())
    }

    /// Records a failed run of `source`; its position stays where it was (empty when it
    /// never had one).
    pub async fn sync_failed(&self, source: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sync_cursors (source, position, updated_at_ms, last_success_ms, last_error) \
             VALUES ($1, '', $3, NULL, $2) ON CONFLICT (source) DO UPDATE SET \
             last_error = excluded.last_error, updated_at_ms = excluded.updated_at_ms",
        )
            .bind(source.to_owned())
            .bind(error.to_owned())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_error("sync_failed", e))?;
        Ok(())
    }
}
