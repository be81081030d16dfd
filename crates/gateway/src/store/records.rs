//! The synced read model: the gateway's copy of the upstream records it serves, each with
//! the upstream's own updated time, when it was stored and how it was learned; the values
//! each can be matched by; and which per-owner collections are known whole. Every change
//! to it is appended to the change log in the same transaction, a deletion as a
//! tombstone.
//!
//! Rows hold the record's JSON as the gateway reads it: this layer stores and finds
//! records, `crate::read_model` knows their types.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::changes::{ChangeKind, NewChange, Origin, stored_text};
use super::{MAX_IDS_PER_QUERY, Store, StoreError, now_ms, placeholders};

/// A type of upstream record the read model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    GhlContact,
    GhlTask,
    GhlNote,
    GhlAppointment,
    ClubOsUser,
    ClubOsEvent,
    ClubOsLocation,
}

stored_text!(RecordKind, "record kind", {
    GhlContact => "ghl_contact",
    GhlTask => "ghl_task",
    GhlNote => "ghl_note",
    GhlAppointment => "ghl_appointment",
    ClubOsUser => "clubos_user",
    ClubOsEvent => "clubos_event",
    ClubOsLocation => "clubos_location",
});

impl RecordKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::GhlContact,
        Self::GhlTask,
        Self::GhlNote,
        Self::GhlAppointment,
        Self::ClubOsUser,
        Self::ClubOsEvent,
        Self::ClubOsLocation,
    ];
}

/// How the read model learned a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSource {
    /// A read found it missing (or stale) and read it from the upstream.
    ReadThrough,
    /// A verified GHL webhook named it and the gateway re-read it.
    Webhook,
    /// The backfill, which reads everything once.
    Backfill,
    /// The Club OS poll found it changed.
    ClubOsPoll,
    /// The GHL poll found it changed.
    GhlPoll,
    /// A reconcile run compared it with the upstream.
    Reconcile,
}

stored_text!(ReadSource, "read-model source", {
    ReadThrough => "read_through",
    Webhook => "webhook",
    Backfill => "backfill",
    ClubOsPoll => "clubos_poll",
    GhlPoll => "ghl_poll",
    Reconcile => "reconcile",
});

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub id: String,
    pub owner: Option<String>,
    /// The record's JSON.
    pub body: String,
    /// Where it sorts in lists.
    pub sort_ms: i64,
    /// When it was last stored, epoch milliseconds.
    pub synced_at_ms: i64,
    /// A write through the gateway changed it upstream since: read it through first.
    pub stale: bool,
}

/// A record to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub id: String,
    pub owner: Option<String>,
    /// The record's JSON.
    pub body: Value,
    /// The upstream's own updated time, as it gave it.
    pub upstream_updated: Option<String>,
    /// Where the record sorts in lists (a contact's `dateAdded`, epoch milliseconds).
    pub sort_ms: i64,
    /// When it takes place (a Club OS event's start, epoch milliseconds), if it does.
    pub starts_ms: Option<i64>,
    /// The values it can be matched by.
    pub keys: Vec<String>,
    /// The GHL contact and Club OS user it concerns, for the change log.
    pub ghl_contact_id: Option<String>,
    pub clubos_user_id: Option<i64>,
}

/// A per-owner collection known whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    pub owner: String,
    pub synced_at_ms: i64,
    pub stale: bool,
}

const COLUMNS: &str = "id, owner, body, sort_ms, synced_at_ms, stale";

impl Store {
    /// Runs `sql` once per 500 `values`, with `$1` bound to `kind` and `{in}` replaced by
    /// the chunk's placeholders, and gathers the rows.
    async fn rows_in(
        &self,
        operation: &'static str,
        kind: RecordKind,
        sql: &str,
        values: &[String],
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in distinct(values).chunks(MAX_IDS_PER_QUERY) {
            let sql = sql.replace("{in}", &placeholders(2, chunk.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(kind.as_str());
            for v in chunk {
                query = query.bind((*v).to_owned());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.query_error(operation, e))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Records of `kind` by id, in one query per 500 ids; absent ids are left out.
    pub async fn records(
        &self,
        kind: RecordKind,
        ids: &[String],
    ) -> Result<Vec<RecordRow>, StoreError> {
        self.records_where("records", kind, "id", ids).await
    }

    /// When each of these records was last stored; absent ids are left out.
    pub async fn synced_at(
        &self,
        kind: RecordKind,
        ids: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        const OPERATION: &str = "synced_at";
        let sql = "SELECT id, synced_at_ms FROM read_model WHERE kind = $1 AND id IN ({in})";
        let rows = self.rows_in(OPERATION, kind, sql, ids).await?;
        rows.iter()
            .map(|row| {
                let field = |e| self.query_error(OPERATION, e);
                Ok((
                    row.try_get("id").map_err(field)?,
                    row.try_get("synced_at_ms").map_err(field)?,
                ))
            })
            .collect()
    }

    /// Records of `kind` hanging off these owners.
    pub async fn records_by_owner(
        &self,
        kind: RecordKind,
        owners: &[String],
    ) -> Result<Vec<RecordRow>, StoreError> {
        self.records_where("records_by_owner", kind, "owner", owners)
            .await
    }

    async fn records_where(
        &self,
        operation: &'static str,
        kind: RecordKind,
        column: &str,
        values: &[String],
    ) -> Result<Vec<RecordRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM read_model WHERE kind = $1 AND {column} IN ({{in}})");
        let rows = self.rows_in(operation, kind, &sql, values).await?;
        rows.iter()
            .map(|row| self.record_from_row(operation, row))
            .collect()
    }

    /// The collections of `kind` known whole, for these owners.
    pub async fn record_sets(
        &self,
        kind: RecordKind,
        owners: &[String],
    ) -> Result<Vec<RecordSet>, StoreError> {
        const OPERATION: &str = "record_sets";
        let sql = "SELECT owner, synced_at_ms, stale FROM read_model_sets \
                   WHERE kind = $1 AND owner IN ({in})";
        let rows = self.rows_in(OPERATION, kind, sql, owners).await?;
        rows.iter()
            .map(|row| {
                let field = |e| self.query_error(OPERATION, e);
                let stale: i64 = row.try_get("stale").map_err(field)?;
                Ok(RecordSet {
                    owner: row.try_get("owner").map_err(field)?,
                    synced_at_ms: row.try_get("synced_at_ms").map_err(field)?,
                    stale: stale != 0,
                })
            })
            .collect()
    }

    /// Records of `kind` holding any of `keys`, each with the key it holds.
    pub async fn records_by_key(
        &self,
        kind: RecordKind,
        keys: &[String],
    ) -> Result<Vec<(String, RecordRow)>, StoreError> {
        const OPERATION: &str = "records_by_key";
        let sql = "SELECT k.match_key, r.id, r.owner, r.body, r.sort_ms, r.synced_at_ms, \
                   r.stale FROM read_model_keys k \
                   JOIN read_model r ON r.kind = k.kind AND r.id = k.id \
                   WHERE k.kind = $1 AND k.match_key IN ({in})";
        let rows = self.rows_in(OPERATION, kind, sql, keys).await?;
        rows.iter()
            .map(|row| {
                let key: String = row
                    .try_get("match_key")
                    .map_err(|e| self.query_error(OPERATION, e))?;
                Ok((key, self.record_from_row(OPERATION, row)?))
            })
            .collect()
    }

    /// Up to `limit` records of `kind`, newest `sort_ms` first (ties by id, descending),
    /// after the position `(sort_ms, id)` of the previous page's last row.
    pub async fn record_page(
        &self,
        kind: RecordKind,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<RecordRow>, StoreError> {
        const OPERATION: &str = "record_page";
        let query = match after {
            Some((sort, id)) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM read_model WHERE kind = $1 \
                 AND (sort_ms < $2 OR (sort_ms = $2 AND id < $3)) \
                 ORDER BY sort_ms DESC, id DESC LIMIT $4"
            )))
            .bind(kind.as_str())
            .bind(sort)
            .bind(id.to_owned())
            .bind(limit),
            None => sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM read_model WHERE kind = $1 \
                 ORDER BY sort_ms DESC, id DESC LIMIT $2"
            )))
            .bind(kind.as_str())
            .bind(limit),
        };
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| self.record_from_row(OPERATION, row))
            .collect()
    }

    /// Every record of `kind`, for a full comparison (reconcile): ids and bodies.
    pub async fn all_records(&self, kind: RecordKind) -> Result<Vec<RecordRow>, StoreError> {
        const OPERATION: &str = "all_records";
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM read_model WHERE kind = $1"
        )))
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| self.record_from_row(OPERATION, row))
            .collect()
    }

    /// How many records of `kind` the read model holds.
    pub async fn record_count(&self, kind: RecordKind) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM read_model WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.query_error("record_count", e))?;
        row.try_get("n")
            .map_err(|e| self.query_error("record_count", e))
    }

    /// How many records of each kind the read model holds, kinds it holds none of left out.
    pub async fn record_counts(&self) -> Result<Vec<(RecordKind, i64)>, StoreError> {
        const OPERATION: &str = "record_counts";
        let rows =
            sqlx::query("SELECT kind, COUNT(*) AS n FROM read_model GROUP BY kind ORDER BY kind")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| {
                let field = |e| self.query_error(OPERATION, e);
                let kind: String = row.try_get("kind").map_err(field)?;
                Ok((kind.parse()?, row.try_get("n").map_err(field)?))
            })
            .collect()
    }

    /// The owners of records of `kind` that take place in `[from_ms, until_ms)`.
    pub async fn owners_starting_within(
        &self,
        kind: RecordKind,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        const OPERATION: &str = "owners_starting_within";
        let rows = sqlx::query(
            "SELECT DISTINCT owner FROM read_model WHERE kind = $1 AND starts_ms >= $2 \
             AND starts_ms < $3 AND owner IS NOT NULL ORDER BY owner",
        )
        .bind(kind.as_str())
        .bind(from_ms)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| {
                row.try_get("owner")
                    .map_err(|e| self.query_error(OPERATION, e))
            })
            .collect()
    }

    /// Whether any record of `kind` waits to be read again after a write.
    pub async fn has_stale_records(&self, kind: RecordKind) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 AS one FROM read_model WHERE kind = $1 AND stale = 1 LIMIT 1")
                .bind(kind.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.query_error("has_stale_records", e))?;
        Ok(row.is_some())
    }

    /// Stores `records` of `kind` learned via `source`: new and changed ones are written
    /// and logged with the fields that changed; unchanged ones only get their sync time.
    /// Returns how many were new or changed.
    pub async fn put_records(
        &self,
        kind: RecordKind,
        records: &[NewRecord],
        source: ReadSource,
    ) -> Result<usize, StoreError> {
        self.retrying_races("put_records", || async move {
            let mut tx = self.begin_read_model_write().await?;
            let changed = self.upsert(&mut tx, kind, records, source).await?;
            self.commit_logged(tx).await?;
            Ok(changed)
        })
        .await
    }

    /// Replaces the collection of `kind` hanging off `owner` with `records`, and marks it
    /// known whole: records no longer in it are removed (tombstones). Returns how many
    /// records were new, changed or removed.
    pub async fn put_record_set(
        &self,
        kind: RecordKind,
        owner: &str,
        records: &[NewRecord],
        source: ReadSource,
    ) -> Result<usize, StoreError> {
        self.retrying_races("put_record_set", || async move {
            let mut tx = self.begin_read_model_write().await?;
            let mut changed = self.upsert(&mut tx, kind, records, source).await?;
            let keep: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
            let rows = sqlx::query("SELECT id FROM read_model WHERE kind = $1 AND owner = $2")
                .bind(kind.as_str())
                .bind(owner.to_owned())
                .fetch_all(&mut *tx)
                .await?;
            let mut gone = Vec::new();
            for row in &rows {
                let id: String = row.try_get("id")?;
                if !keep.contains(id.as_str()) {
                    gone.push(id);
                }
            }
            for id in &gone {
                changed += usize::from(self.delete(&mut tx, kind, id, source).await?);
            }
            sqlx::query(
                "INSERT INTO read_model_sets (kind, owner, synced_at_ms, source, stale) \
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT (kind, owner) DO UPDATE SET \
                 synced_at_ms = excluded.synced_at_ms, source = excluded.source, stale = 0",
            )
            .bind(kind.as_str())
            .bind(owner.to_owned())
            .bind(now_ms())
            .bind(source.as_str())
            .execute(&mut *tx)
            .await?;
            self.commit_logged(tx).await?;
            Ok(changed)
        })
        .await
    }

    /// Removes a record the upstream no longer has, logging a tombstone; false when the
    /// read model did not hold it.
    pub async fn remove_record(
        &self,
        kind: RecordKind,
        id: &str,
        source: ReadSource,
    ) -> Result<bool, StoreError> {
        self.retrying_races("remove_record", || async move {
            let mut tx = self.begin_read_model_write().await?;
            let removed = self.delete(&mut tx, kind, id, source).await?;
            self.commit_logged(tx).await?;
            Ok(removed)
        })
        .await
    }

    /// Marks a record to be read through before it is served again (a write through the
    /// gateway changed it upstream).
    pub async fn mark_record_stale(&self, kind: RecordKind, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE read_model SET stale = 1 WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_error("mark_record_stale", e))?;
        Ok(())
    }

    /// Marks the collection of `kind` of `owner` (of every owner when `None`) to be read
    /// through before it is served again.
    pub async fn mark_sets_stale(
        &self,
        kind: RecordKind,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let query = match owner {
            Some(owner) => {
                sqlx::query("UPDATE read_model_sets SET stale = 1 WHERE kind = $1 AND owner = $2")
                    .bind(kind.as_str())
                    .bind(owner.to_owned())
            }
            None => sqlx::query("UPDATE read_model_sets SET stale = 1 WHERE kind = $1")
                .bind(kind.as_str()),
        };
        query
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_error("mark_sets_stale", e))?;
        Ok(())
    }

    /// Writes `records` inside `conn`, logging each new or changed one.
    async fn upsert(
        &self,
        conn: &mut AnyConnection,
        kind: RecordKind,
        records: &[NewRecord],
        source: ReadSource,
    ) -> Result<usize, sqlx::Error> {
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let mut old: HashMap<String, (String, bool)> = HashMap::new();
        let mut old_owner: HashMap<String, String> = HashMap::new();
        let mut updated: HashMap<String, String> = HashMap::new();
        for chunk in distinct(&ids).chunks(MAX_IDS_PER_QUERY) {
            let sql = format!(
                "SELECT id, owner, body, stale, upstream_updated FROM read_model \
                 WHERE kind = $1 AND id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(kind.as_str());
            for id in chunk {
                query = query.bind((*id).to_owned());
            }
            for row in query.fetch_all(&mut *conn).await? {
                let stale: i64 = row.try_get("stale")?;
                let id: String = row.try_get("id")?;
                if let Some(at) = row.try_get::<Option<String>, _>("upstream_updated")? {
                    updated.insert(id.clone(), at);
                }
                if let Some(owner) = row.try_get::<Option<String>, _>("owner")? {
                    old_owner.insert(id.clone(), owner);
                }
                old.insert(id, (row.try_get("body")?, stale != 0));
            }
        }
        let now = now_ms();
        let mut changed_fields: Vec<(usize, Vec<String>)> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            if older(record.upstream_updated.as_deref(), updated.get(&record.id)) {
                // A page read before a webhook's re-read, stored after it: keep the newer.
                continue;
            }
            let body = record.body.to_string();
            let previous = old.get(&record.id);
            let moved = old_owner.get(&record.id) != record.owner.as_ref();
            if let Some((prior, false)) = previous
                && *prior == body
                && !moved
            {
                sqlx::query(
                    "UPDATE read_model SET synced_at_ms = $3, source = $4, sort_ms = $5, \
                     owner = $6 WHERE kind = $1 AND id = $2",
                )
                .bind(kind.as_str())
                .bind(record.id.clone())
                .bind(now)
                .bind(source.as_str())
                .bind(record.sort_ms)
                .bind(record.owner.clone())
                .execute(&mut *conn)
                .await?;
                continue;
            }
            let mut fields = match previous {
                Some((prior, _)) => changed_keys(prior, &record.body),
                None => vec!["*".to_owned()],
            };
            if previous.is_some() && moved && fields.is_empty() {
                fields.push("owner".to_owned());
            }
            sqlx::query(
                "INSERT INTO read_model (kind, id, owner, body, upstream_updated, sort_ms, \
                 synced_at_ms, source, stale, starts_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9) \
                 ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, \
                 body = excluded.body, upstream_updated = excluded.upstream_updated, \
                 sort_ms = excluded.sort_ms, synced_at_ms = excluded.synced_at_ms, \
                 source = excluded.source, stale = 0, starts_ms = excluded.starts_ms",
            )
            .bind(kind.as_str())
            .bind(record.id.clone())
            .bind(record.owner.clone())
            .bind(body)
            .bind(record.upstream_updated.clone())
            .bind(record.sort_ms)
            .bind(now)
            .bind(source.as_str())
            .bind(record.starts_ms)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM read_model_keys WHERE kind = $1 AND id = $2")
                .bind(kind.as_str())
                .bind(record.id.clone())
                .execute(&mut *conn)
                .await?;
            for key in distinct(&record.keys) {
                sqlx::query(
                    "INSERT INTO read_model_keys (kind, match_key, id) VALUES ($1, $2, $3)",
                )
                .bind(kind.as_str())
                .bind(key.to_owned())
                .bind(record.id.clone())
                .execute(&mut *conn)
                .await?;
            }
            if !fields.is_empty() {
                changed_fields.push((i, fields));
            }
        }
        let names: Vec<Vec<&str>> = changed_fields
            .iter()
            .map(|(_, f)| f.iter().map(String::as_str).collect())
            .collect();
        let mut changes: Vec<NewChange<'_>> = Vec::with_capacity(changed_fields.len());
        for ((i, _), fields) in changed_fields.iter().zip(&names) {
            let r = &records[*i];
            let change = NewChange {
                kind: ChangeKind::RecordChanged,
                ghl_contact_id: r.ghl_contact_id.as_deref(),
                clubos_user_id: r.clubos_user_id,
                fields,
                origin: Origin::Sync,
                record: Some((kind, r.id.as_str(), source)),
            };
            // A collection's record that moved (a task now of another contact) is a change
            // to the collection it left too.
            let left = old_owner
                .get(&r.id)
                .filter(|o| r.owner.as_ref() != Some(*o))
                .and_then(|o| concerns(kind, &r.id, Some(o)).0)
                .filter(|_| kind != RecordKind::GhlContact);
            if let Some(left) = left {
                changes.push(NewChange {
                    ghl_contact_id: Some(left),
                    ..change.clone()
                });
            }
            changes.push(change);
        }
        self.append_changes(conn, &changes).await?;
        Ok(changed_fields.len())
    }

    /// Deletes a record and its keys inside `conn`, logging a tombstone.
    async fn delete(
        &self,
        conn: &mut AnyConnection,
        kind: RecordKind,
        id: &str,
        source: ReadSource,
    ) -> Result<bool, sqlx::Error> {
        let row = sqlx::query("SELECT owner FROM read_model WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let owner: Option<String> = row.try_get("owner")?;
        for table in ["read_model", "read_model_keys"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE kind = $1 AND id = $2"
            )))
            .bind(kind.as_str())
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        }
        let (ghl, clubos) = concerns(kind, id, owner.as_deref());
        let tombstone = NewChange {
            kind: ChangeKind::RecordDeleted,
            ghl_contact_id: ghl,
            clubos_user_id: clubos,
            fields: &[],
            origin: Origin::Sync,
            record: Some((kind, id, source)),
        };
        self.append_change(conn, &tombstone).await?;
        Ok(true)
    }

    fn record_from_row(
        &self,
        operation: &'static str,
        row: &AnyRow,
    ) -> Result<RecordRow, StoreError> {
        let field = |e| self.query_error(operation, e);
        let stale: i64 = row.try_get("stale").map_err(field)?;
        Ok(RecordRow {
            id: row.try_get("id").map_err(field)?,
            owner: row.try_get("owner").map_err(field)?,
            body: row.try_get("body").map_err(field)?,
            sort_ms: row.try_get("sort_ms").map_err(field)?,
            synced_at_ms: row.try_get("synced_at_ms").map_err(field)?,
            stale: stale != 0,
        })
    }
}

/// The GHL contact and Club OS user a record of `kind` concerns, from its id and owner.
fn concerns<'a>(
    kind: RecordKind,
    id: &'a str,
    owner: Option<&'a str>,
) -> (Option<&'a str>, Option<i64>) {
    match kind {
        RecordKind::GhlContact => (Some(id), None),
        RecordKind::ClubOsUser => (None, id.parse().ok()),
        RecordKind::ClubOsEvent => (None, owner.and_then(|o| o.parse().ok())),
        RecordKind::ClubOsLocation => (None, None),
        RecordKind::GhlTask | RecordKind::GhlNote | RecordKind::GhlAppointment => (owner, None),
    }
}

/// Whether a record the upstream last updated at `new` is older than the stored one, last
/// updated at `stored` (both as the upstream wrote them; unreadable times are never older).
fn older(new: Option<&str>, stored: Option<&String>) -> bool {
    let ms = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    match (new.and_then(ms), stored.and_then(|s| ms(s))) {
        (Some(new), Some(stored)) => new < stored,
        _ => false,
    }
}

/// The top-level fields whose values differ between a stored body and a new one.
fn changed_keys(prior: &str, new: &Value) -> Vec<String> {
    let Ok(Value::Object(prior)) = serde_json::from_str::<Value>(prior) else {
        return vec!["*".to_owned()];
    };
    let Value::Object(new) = new else {
        return vec!["*".to_owned()];
    };
    let mut keys: Vec<String> = prior
        .keys()
        .chain(new.keys())
        .filter(|k| prior.get(*k) != new.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// `$from, ..., $(from + count - 1)`.
/// The values once each, in first-seen order.
fn distinct(values: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    values
        .iter()
        .map(String::as_str)
        .filter(|v| seen.insert(*v))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_and_sources_round_trip_through_their_stored_text() {
        for kind in RecordKind::ALL {
            assert_eq!(kind.as_str().parse::<RecordKind>().unwrap(), kind);
        }
        for source in [
            ReadSource::ReadThrough,
            ReadSource::Webhook,
            ReadSource::Backfill,
            ReadSource::ClubOsPoll,
            ReadSource::GhlPoll,
            ReadSource::Reconcile,
        ] {
            assert_eq!(source.as_str().parse::<ReadSource>().unwrap(), source);
        }
    }

    #[test]
    fn changed_keys_name_each_differing_field_once() {
        let prior = json!({"a": 1, "b": "x", "c": [1]}).to_string();
        let new = json!({"a": 1, "b": "y", "d": true});
        assert_eq!(changed_keys(&prior, &new), ["b", "c", "d"]);
        assert!(changed_keys(&prior, &json!({"a": 1, "b": "x", "c": [1]})).is_empty());
    }

    #[test]
    fn only_a_readable_earlier_update_is_older() {
        let stored = "2026-12-01T10:00:00.000Z".to_owned();
        assert!(older(Some("2026-12-01T09:59:59.999Z"), Some(&stored)));
        assert!(!older(Some("2026-12-01T10:00:00Z"), Some(&stored)));
        assert!(!older(Some("yesterday"), Some(&stored)));
        assert!(!older(None, Some(&stored)));
        assert!(!older(Some("2026-12-01T09:00:00Z"), None));
    }

    #[test]
    fn placeholders_continue_from_the_given_number() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }
}
