//! The change log: every change to the data the gateway owns, appended in the same
//! transaction as the change itself, numbered in commit order. Cache invalidation reads
//! it now; subscriptions and other replicas follow it by `seq`.

use std::fmt;
use std::str::FromStr;

use sqlx::{AnyConnection, Row};

use super::{Backend, Store, StoreError, now_ms};

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
}

/// Who made a change: a write through the gateway (a mutation, a create), or the sync
/// engine on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A mutation or a create through the gateway.
    #[default]
    Write,
    /// The sync engine (the link sweep).
    Sync,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its place in the log: strictly increasing in commit order, never reused.
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
}

macro_rules! stored_text {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored text: stable across releases.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = StoreError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(StoreError::UnknownValue {
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
});

stored_text!(Origin, "change origin", {
    Write => "write",
    Sync => "sync",
});

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
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOG_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM change_log")
            .fetch_one(&mut *conn)
            .await?;
        let seq: i64 = row.try_get("next")?;
        let fields = serde_json::to_string(change.fields).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO change_log (seq, kind, ghl_contact_id, clubos_user_id, fields, source, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(seq)
        .bind(change.kind.as_str())
        .bind(change.ghl_contact_id.map(str::to_owned))
        .bind(change.clubos_user_id)
        .bind(fields)
        .bind(change.origin.as_str())
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(seq)
    }

    /// Up to `limit` changes after `after` (0 for the first), oldest first.
    pub async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        const OPERATION: &str = "changes_after";
        let rows = sqlx::query(
            "SELECT seq, kind, ghl_contact_id, clubos_user_id, fields, source, at_ms \
             FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
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
                Ok(Change {
                    seq: row.try_get("seq").map_err(field)?,
                    kind: kind.parse()?,
                    ghl_contact_id: row.try_get("ghl_contact_id").map_err(field)?,
                    clubos_user_id: row.try_get("clubos_user_id").map_err(field)?,
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                    origin: origin.parse()?,
                    at_ms: row.try_get("at_ms").map_err(field)?,
                })
            })
            .collect()
    }
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
        ] {
            assert_eq!(kind.as_str().parse::<ChangeKind>().unwrap(), kind);
        }
        for origin in [Origin::Write, Origin::Sync] {
            assert_eq!(origin.as_str().parse::<Origin>().unwrap(), origin);
        }
        assert!("moved".parse::<ChangeKind>().is_err());
    }
}
