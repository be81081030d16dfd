//! The change log: every change to the data the gateway owns, appended in the same
//! transaction as the change itself, numbered in commit order. Cache invalidation reads
//! it now; subscriptions and other replicas follow it by `seq`.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::records::{ReadSource, RecordKind};
use super::{Backend, Store, StoreError, now_ms, placeholders};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A link was stored (new, or replacing another partner).
    LinkStored,
    /// A link was removed (unlinked, or replaced by a link to someone else).
    LinkRemoved,
    /// The link sweep suggested a pair for staff to decide.
    SuggestionAdded,
    /// Staff dismissed a suggestion; the pair is never suggested again.
    SuggestionDismissed,
    /// A record of the read model was stored new or changed.
    RecordChanged,
    /// A record of the read model is gone upstream (a tombstone).
    RecordDeleted,
}

/// Who made a change: a write through the gateway (a mutation, a create), or the sync
/// engine on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A mutation or a create through the gateway.
    #[default]
    Write,
    /// The sync engine: the link sweep, or the read model learning what changed upstream
    /// (the change's `via` says how).
    Sync,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its place in the log: strictly increasing in commit order, never reused (on a SQLite
    /// file a power cut may take back the last read-model entries, and their numbers, see
    /// ARCHITECTURE.md).
    pub seq: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// The GHL contact it is about, when there is one.
    pub ghl_contact_id: Option<String>,
    /// The Club OS user it is about, when there is one.
    pub clubos_user_id: Option<i64>,
    /// The names of the changed fields.
    pub fields: Vec<String>,
    /// Who made the change.
    pub origin: Origin,
    /// The read-model record it is about, when it is about one.
    pub record: Option<(RecordKind, String)>,
    /// How the read model learned the change, for changes to it.
    pub via: Option<ReadSource>,
    /// When it was stored, epoch milliseconds.
    pub at_ms: i64,
}

/// A change to append: everything but its number and time.
#[derive(Debug, Clone)]
pub(super) struct NewChange<'a> {
    pub kind: ChangeKind,
    pub ghl_contact_id: Option<&'a str>,
    pub clubos_user_id: Option<i64>,
    pub fields: &'a [&'a str],
    pub origin: Origin,
    /// The read-model record and how it was learned, for changes to the read model.
    pub record: Option<(RecordKind, &'a str, ReadSource)>,
}

macro_rules! stored_text {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored text: stable across releases.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::store::StoreError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::store::StoreError::UnknownValue {
                        field: $what,
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
}

stored_text!(ChangeKind, "change kind", {
    LinkStored => "link_stored",
    LinkRemoved => "link_removed",
    SuggestionAdded => "suggestion_added",
    SuggestionDismissed => "suggestion_dismissed",
    RecordChanged => "record_changed",
    RecordDeleted => "record_deleted",
});

stored_text!(Origin, "change origin", {
    Write => "write",
    Sync => "sync",
});

pub(super) use stored_text;

/// The PostgreSQL advisory lock that orders appends to the change log (an arbitrary,
/// fixed key: "cg" "log" in ASCII).
const LOG_LOCK: i64 = 0x6367_006c_6f67;

impl Store {
    /// Appends `change` inside the caller's write transaction. Its number is the highest so
    /// far plus one, taken under a lock held until the transaction ends (SQLite's write
    /// transactions hold one already; PostgreSQL takes a transaction advisory lock), so
    /// numbers are never shared, never skipped, and become visible in order.
    pub(super) async fn append_change(
        &self,
        conn: &mut AnyConnection,
        change: &NewChange<'_>,
    ) -> Result<i64, sqlx::Error> {
        self.append_changes(conn, std::slice::from_ref(change))
            .await
            .map(|seq| seq.unwrap_or_default())
    }

    /// Appends `changes` in order inside the caller's write transaction, numbered as
    /// [`Store::append_change`] numbers one; the number of the last, if any.
    pub(super) async fn append_changes(
        &self,
        conn: &mut AnyConnection,
        changes: &[NewChange<'_>],
    ) -> Result<Option<i64>, sqlx::Error> {
        if changes.is_empty() {
            return Ok(None);
        }
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOG_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM change_log")
            .fetch_one(&mut *conn)
            .await?;
        let mut seq: i64 = row.try_get("last")?;
        let at = now_ms();
        for change in changes {
            seq += 1;
            let fields = serde_json::to_string(change.fields).unwrap_or_else(|_| "[]".into());
            let (record_kind, record_id, via) = match change.record {
                Some((kind, id, via)) => {
                    (Some(kind.as_str()), Some(id.to_owned()), Some(via.as_str()))
                }
                None => (None, None, None),
            };
            sqlx::query(
                "INSERT INTO change_log (seq, kind, ghl_contact_id, clubos_user_id, fields, source, \
                 at_ms, record_kind, record_id, via) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(seq)
            .bind(change.kind.as_str())
            .bind(change.ghl_contact_id.map(str::to_owned))
            .bind(change.clubos_user_id)
            .bind(fields)
            .bind(change.origin.as_str())
            .bind(at)
            .bind(record_kind)
            .bind(record_id)
            .bind(via)
            .execute(&mut *conn)
            .await?;
        }
        Ok(Some(seq))
    }

    /// The latest change's sequence number (0 before the first change).
    pub async fn last_change_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM change_log")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.query_error("last_change_seq", e))?;
        row.try_get("seq")
            .map_err(|e| self.query_error("last_change_seq", e))
    }

    /// Up to `limit` changes after `after` (0 for the first), oldest first.
    pub async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        self.changes_page(after, i64::MAX, &ChangeFilter::default(), limit)
            .await
    }

    /// Up to `limit` changes numbered after `after` and at most `upto` that `filter` keeps,
    /// oldest first.
    pub async fn changes_page(
        &self,
        after: i64,
        upto: i64,
        filter: &ChangeFilter,
        limit: i64,
    ) -> Result<Vec<Change>, StoreError> {
        const OPERATION: &str = "changes_page";
        let mut sql = String::from(
            "SELECT seq, kind, ghl_contact_id, clubos_user_id, fields, source, at_ms, \
             record_kind, record_id, via FROM change_log WHERE seq > $1 AND seq <= $2",
        );
        let mut next = 3;
        let mut list = |n: usize| {
            let p = placeholders(next, n.max(1));
            next += n.max(1);
            p
        };
        if !filter.kinds.is_empty() {
            sql.push_str(&format!(" AND kind IN ({})", list(filter.kinds.len())));
        }
        let by_person = !filter.ghl_contact_ids.is_empty() || !filter.clubos_user_ids.is_empty();
        if by_person {
            // An empty list still takes one placeholder, bound to a value no row holds.
            let ghl = list(filter.ghl_contact_ids.len());
            let clubos = list(filter.clubos_user_ids.len());
            sql.push_str(&format!(
                " AND (ghl_contact_id IN ({ghl}) OR clubos_user_id IN ({clubos}))"
            ));
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT ${next}"));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(after).bind(upto);
        for kind in &filter.kinds {
            query = query.bind(kind.as_str());
        }
        if by_person {
            if filter.ghl_contact_ids.is_empty() {
                query = query.bind(String::new());
            }
            for id in &filter.ghl_contact_ids {
                query = query.bind(id.clone());
            }
            if filter.clubos_user_ids.is_empty() {
                query = query.bind(0_i64);
            }
            for id in &filter.clubos_user_ids {
                query = query.bind(*id);
            }
        }
        let rows = query
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| {
                let field = |e| self.query_error(OPERATION, e);
                let kind: String = row.try_get("kind").map_err(field)?;
                let origin: String = row.try_get("source").map_err(field)?;
                let fields: String = row.try_get("fields").map_err(field)?;
                let record_kind: Option<String> = row.try_get("record_kind").map_err(field)?;
                let record_id: Option<String> = row.try_get("record_id").map_err(field)?;
                let via: Option<String> = row.try_get("via").map_err(field)?;
                let record = match (record_kind, record_id) {
                    (Some(kind), Some(id)) => Some((kind.parse()?, id)),
                    _ => None,
                };
                Ok(Change {
                    seq: row.try_get("seq").map_err(field)?,
                    kind: kind.parse()?,
                    ghl_contact_id: row.try_get("ghl_contact_id").map_err(field)?,
                    clubos_user_id: row.try_get("clubos_user_id").map_err(field)?,
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                    origin: origin.parse()?,
                    record,
                    via: via.as_deref().map(str::parse).transpose()?,
                    at_ms: row.try_get("at_ms").map_err(field)?,
                })
            })
            .collect()
    }
}

/// Which changes [`Store::changes_page`] keeps: of these kinds (any, when empty), and about
/// these GHL contacts or Club OS users (anyone, when both are empty).
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub kinds: Vec<ChangeKind>,
    pub ghl_contact_ids: Vec<String>,
    pub clubos_user_ids: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_origins_round_trip_through_their_stored_text() {
        for kind in [
            ChangeKind::LinkStored,
            ChangeKind::LinkRemoved,
            ChangeKind::SuggestionAdded,
            ChangeKind::SuggestionDismissed,
            ChangeKind::RecordChanged,
            ChangeKind::RecordDeleted,
        ] {
            assert_eq!(kind.as_str().parse::<ChangeKind>().unwrap(), kind);
        }
        for origin in [Origin::Write, Origin::Sync] {
            assert_eq!(origin.as_str().parse::<Origin>().unwrap(), origin);
        }
        assert!("moved".parse::<ChangeKind>().is_err());
    }
}
