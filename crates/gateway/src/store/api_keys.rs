//! Callers' API keys, stored as SHA-256 hashes with a role and optional location binding.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A stored key, as authentication needs it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key's public id (its prefix), safe to log.
    pub id: String,
    /// `read`, `write` or `admin`.
    pub role: String,
    /// What the key is for, as its creator said.
    pub label: String,
    /// The GHL locations the key may use; `None` for any.
    pub ghl_locations: Option<Vec<String>>,
    /// The Club OS locations the key may use; `None` for any.
    pub clubos_locations: Option<Vec<i64>>,
}

impl Store {
    /// Records a key by its hash.
    pub async fn insert_api_key(&self, key_hash: &str, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys \
             (id, key_hash, role, label, ghl_locations, clubos_locations, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.id.clone())
        .bind(key_hash.to_owned())
        .bind(key.role.clone())
        .bind(key.label.clone())
        .bind(key.ghl_locations.as_ref().map(|l| l.join(",")))
        .bind(
            key.clubos_locations
                .as_ref()
                .map(|l| l.iter().map(i64::to_string).collect::<Vec<_>>().join(",")),
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("insert_api_key", e))?;
        Ok(())
    }

    /// The live (not revoked) key with this hash, if any.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, role, label, ghl_locations, clubos_locations FROM api_keys \
             WHERE key_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(key_hash.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.query_error("api_key_by_hash", e))?;
        row.map(|r| {
            let get = |col: &str| {
                r.try_get::<String, _>(col)
                    .map_err(|e| self.query_error("api_key_by_hash", e))
            };
            let list = |col: &str| {
                r.try_get::<Option<String>, _>(col)
                    .map_err(|e| self.query_error("api_key_by_hash", e))
            };
            let ghl = list("ghl_locations")?;
            let clubos = list("clubos_locations")?;
            Ok(StoredKey {
                id: get("id")?,
                role: get("role")?,
                label: get("label")?,
                ghl_locations: ghl.map(|l| l.split(',').map(str::to_owned).collect()),
                // Unreadable ids bind the key to no location rather than to any.
                clubos_locations: clubos
                    .map(|l| l.split(',').filter_map(|id| id.parse().ok()).collect()),
            })
        })
        .transpose()
    }

    /// Revokes a key by its id; true when a live key was revoked.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(id.to_owned())
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("revoke_api_key", e))?;
        Ok(done.rows_affected() > 0)
    }
}
