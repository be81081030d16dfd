//! Links between a GHL contact and a Club OS user, remembered so that linking does not
//! have to search both systems again for every request, and so that a person's manual
//! decision outlives the process.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::changes::{ChangeKind, NewChange, Origin};
use super::{MAX_IDS_PER_QUERY, Store, StoreError, now_ms, placeholders};

/// Why a link exists, kept so that a manual link can be told apart from a guess that a
/// later, better match may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkSource {
    /// A person linked the two records by hand.
    Manual,
    /// The email addresses matched.
    Email,
    /// The phone numbers matched.
    Phone,
    /// GHL's custom field already named the Club OS user.
    CustomField,
    /// The gateway created one record from the other, so they are the same person.
    Created,
}

impl LinkSource {
    /// The stored text: stable across releases, since rows outlive the binary that wrote them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::CustomField => "custom_field",
            Self::Created => "created",
        }
    }
}

impl fmt::Display for LinkSource {
    /// Same text as stored, so that logs and the database agree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LinkSource {
    type Err = StoreError;

    /// Reads the stored text back; anything else is a row this version does not understand.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "manual" => Self::Manual,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "custom_field" => Self::CustomField,
            "created" => Self::Created,
            other => {
                return Err(StoreError::UnknownValue {
                    field: "link source",
                    value: other.to_owned(),
                });
            }
        })
    }
}

/// One stored link: the pair, why it exists, who confirmed it and when, so that callers
/// can judge how much to trust it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// The GHL contact's id.
    pub ghl_contact_id: String,
    /// The Club OS user's id.
    pub clubos_user_id: i64,
    /// Why the two are linked.
    pub source: LinkSource,
    /// What the match rested on (the shared email or phone, the link field), when known.
    pub evidence: Option<String>,
    /// Who confirmed it: a write through the gateway or the link sweep.
    pub confirmed_by: Origin,
    /// When the pair was first stored, in milliseconds since the Unix epoch.
    pub linked_at_ms: i64,
    /// When the link was last stored, in milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// A link to store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewLink {
    /// The GHL contact's id.
    pub ghl_contact_id: String,
    /// The Club OS user's id.
    pub clubos_user_id: i64,
    /// Why the two are linked.
    pub source: LinkSource,
    /// What the match rested on.
    pub evidence: Option<String>,
    /// Who confirmed it.
    pub confirmed_by: Origin,
}

impl NewLink {
    /// A link a write through the gateway confirmed, with no evidence recorded.
    pub fn new(ghl_contact_id: &str, clubos_user_id: i64, source: LinkSource) -> Self {
        Self {
            ghl_contact_id: ghl_contact_id.to_owned(),
            clubos_user_id,
            source,
            evidence: None,
            confirmed_by: Origin::Write,
        }
    }
}

impl Store {
    /// Links of many GHL contacts in one query (per 500 ids), so that a batched DataLoader
    /// costs one round trip however many contacts a GraphQL response lists. Contacts without
    /// a link are simply absent; the order of the result is unspecified.
    pub async fn links_by_ghl(&self, ghl_ids: &[String]) -> Result<Vec<Link>, StoreError> {
        const OPERATION: &str = "links_by_ghl";
        let ids = distinct(ghl_ids.iter().map(String::as_str));
        let mut links = Vec::new();
        for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
            let sql = select_where_in("ghl_contact_id", chunk.len());
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.query_error(OPERATION, e))?;
            for row in &rows {
                links.push(self.link_from_row(OPERATION, row)?);
            }
        }
        Ok(links)
    }

    /// Links of many Club OS users in one query (per 500 ids), for the same batching as
    /// [`Store::links_by_ghl`] from the Club OS side.
    pub async fn links_by_clubos(&self, user_ids: &[i64]) -> Result<Vec<Link>, StoreError> {
        const OPERATION: &str = "links_by_clubos";
        let ids = distinct(user_ids.iter().copied());
        let mut links = Vec::new();
        for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
            let sql = select_where_in("clubos_user_id", chunk.len());
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.query_error(OPERATION, e))?;
            for row in &rows {
                links.push(self.link_from_row(OPERATION, row)?);
            }
        }
        Ok(links)
    }

    /// Up to `limit` stored links in GHL id order, after `after` (a page of the sync plan).
    pub async fn links_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Link>, StoreError> {
        const OPERATION: &str = "links_page";
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM contact_links WHERE ghl_contact_id > $1 \
             ORDER BY ghl_contact_id LIMIT $2"
        )))
        .bind(after.unwrap_or_default().to_owned())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| self.link_from_row(OPERATION, row))
            .collect()
    }

    /// Every stored link (the link sweep compares them with what it finds).
    pub async fn all_links(&self) -> Result<Vec<Link>, StoreError> {
        self.links_page(None, i64::MAX).await
    }

    /// Stores a link, keeping links one-to-one: in one transaction, any other link of the
    /// contact or of the user is removed, then this one is written, the suggestions of
    /// either record are dropped (the person is decided), and each change goes to the
    /// change log. Storing the same pair again only refreshes `source`, `evidence` and
    /// `updated_at_ms` (`linked_at_ms` stays), so callers can retry freely. A write that
    /// loses a race with another replica is run again.
    ///
    /// A link the sync engine confirmed never displaces or rewrites another: when either
    /// record is linked to someone else by now (staff linked it after the sweep read the
    /// links), nothing changes and the answer is `false`; when the pair is stored already,
    /// it stays as it is (a manual link stays manual) and the answer is `true`.
    pub async fn put_link(&self, link: &NewLink) -> Result<bool, StoreError> {
        self.retrying_races("put_link", || self.try_put_link(link))
            .await
    }

    async fn try_put_link(&self, link: &NewLink) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let held = sqlx::query(
            "SELECT ghl_contact_id, clubos_user_id, linked_at_ms FROM contact_links \
             WHERE ghl_contact_id = $1 OR clubos_user_id = $2",
        )
        .bind(link.ghl_contact_id.clone())
        .bind(link.clubos_user_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut pairs = Vec::with_capacity(held.len());
        for row in &held {
            let ghl: String = row.try_get("ghl_contact_id")?;
            let user: i64 = row.try_get("clubos_user_id")?;
            pairs.push((ghl, user));
        }
        if link.confirmed_by == Origin::Sync && !pairs.is_empty() {
            // Held already: as it is (a manual link stays manual), or by someone else.
            let same =
                |(g, u): &(String, i64)| *g == link.ghl_contact_id && *u == link.clubos_user_id;
            return Ok(pairs.iter().all(same));
        }
        let mut linked_at = now;
        let mut is_new = true;
        for row in &held {
            let ghl: String = row.try_get("ghl_contact_id")?;
            let user: i64 = row.try_get("clubos_user_id")?;
            if ghl == link.ghl_contact_id && user == link.clubos_user_id {
                linked_at = row.try_get("linked_at_ms")?;
                is_new = false;
                continue;
            }
            let removed = NewChange {
                kind: ChangeKind::LinkRemoved,
                ghl_contact_id: Some(&ghl),
                clubos_user_id: Some(user),
                fields: &["clubOsUserId"],
                origin: link.confirmed_by,
                record: None,
            };
            self.append_change(&mut tx, &removed).await?;
        }
        sqlx::query("DELETE FROM contact_links WHERE ghl_contact_id = $1 OR clubos_user_id = $2")
            .bind(link.ghl_contact_id.clone())
            .bind(link.clubos_user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO contact_links (ghl_contact_id, clubos_user_id, source, evidence, \
             confirmed_by, linked_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(link.ghl_contact_id.clone())
        .bind(link.clubos_user_id)
        .bind(link.source.as_str())
        .bind(link.evidence.clone())
        .bind(link.confirmed_by.as_str())
        .bind(linked_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM link_suggestions WHERE ghl_contact_id = $1 OR clubos_user_id = $2",
        )
        .bind(link.ghl_contact_id.clone())
        .bind(link.clubos_user_id)
        .execute(&mut *tx)
        .await?;
        if is_new {
            let stored = NewChange {
                kind: ChangeKind::LinkStored,
                ghl_contact_id: Some(&link.ghl_contact_id),
                clubos_user_id: Some(link.clubos_user_id),
                fields: &["clubOsUserId"],
                origin: link.confirmed_by,
                record: None,
            };
            self.append_change(&mut tx, &stored).await?;
        }
        self.commit_logged(tx).await?;
        Ok(true)
    }

    /// Removes the link of a GHL contact (it was deleted, or a person unlinked it); the
    /// answer tells an API caller whether there was anything to undo.
    pub async fn remove_link_by_ghl(&self, ghl_contact_id: &str) -> Result<bool, StoreError> {
        let by = Value::Ghl(ghl_contact_id);
        self.retrying_races("remove_link_by_ghl", || {
            self.try_remove_link("ghl_contact_id", by)
        })
        .await
    }

    /// Removes the link of a Club OS user, the mirror of [`Store::remove_link_by_ghl`].
    pub async fn remove_link_by_clubos(&self, clubos_user_id: i64) -> Result<bool, StoreError> {
        let by = Value::ClubOs(clubos_user_id);
        self.retrying_races("remove_link_by_clubos", || {
            self.try_remove_link("clubos_user_id", by)
        })
        .await
    }

    /// Deletes the link `column` = `value` and logs it.
    async fn try_remove_link(&self, column: &str, value: Value<'_>) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let select = format!("SELECT {COLUMNS} FROM contact_links WHERE {column} = $1");
        let row = value
            .bind(sqlx::query(AssertSqlSafe(select)))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let ghl: String = row.try_get("ghl_contact_id")?;
        let user: i64 = row.try_get("clubos_user_id")?;
        let delete = format!("DELETE FROM contact_links WHERE {column} = $1");
        value
            .bind(sqlx::query(AssertSqlSafe(delete)))
            .execute(&mut *tx)
            .await?;
        let removed = NewChange {
            kind: ChangeKind::LinkRemoved,
            ghl_contact_id: Some(&ghl),
            clubos_user_id: Some(user),
            fields: &["clubOsUserId"],
            origin: Origin::Write,
            record: None,
        };
        self.append_change(&mut tx, &removed).await?;
        self.commit_logged(tx).await?;
        Ok(true)
    }

    fn link_from_row(&self, operation: &'static str, row: &AnyRow) -> Result<Link, StoreError> {
        let field = |e| self.query_error(operation, e);
        let source: String = row.try_get("source").map_err(field)?;
        let confirmed_by: String = row.try_get("confirmed_by").map_err(field)?;
        Ok(Link {
            ghl_contact_id: row.try_get("ghl_contact_id").map_err(field)?,
            clubos_user_id: row.try_get("clubos_user_id").map_err(field)?,
            source: source.parse()?,
            evidence: row.try_get("evidence").map_err(field)?,
            confirmed_by: confirmed_by.parse()?,
            linked_at_ms: row.try_get("linked_at_ms").map_err(field)?,
            updated_at_ms: row.try_get("updated_at_ms").map_err(field)?,
        })
    }
}

/// The columns a [`Link`] is read from.
const COLUMNS: &str =
    "ghl_contact_id, clubos_user_id, source, evidence, confirmed_by, linked_at_ms, updated_at_ms";

/// One side's id, bound to a query by its type.
#[derive(Clone, Copy)]
enum Value<'a> {
    Ghl(&'a str),
    ClubOs(i64),
}

impl Value<'_> {
    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match self {
            Self::Ghl(id) => query.bind(id.to_owned()),
            Self::ClubOs(id) => query.bind(id),
        }
    }
}

/// `SELECT ... WHERE column IN ($1, ..., $n)`: placeholders are numbered, which both
/// PostgreSQL and SQLite accept.
fn select_where_in(column: &str, count: usize) -> String {
    format!(
        "SELECT {COLUMNS} FROM contact_links WHERE {column} IN ({})",
        placeholders(1, count)
    )
}

/// The ids once each, in first-seen order: a duplicate in two chunks would otherwise return
/// its link twice.
fn distinct<T: Copy + Eq + std::hash::Hash>(ids: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip_through_their_stored_text() {
        for source in [
            LinkSource::Manual,
            LinkSource::Email,
            LinkSource::Phone,
            LinkSource::CustomField,
            LinkSource::Created,
        ] {
            assert_eq!(source.as_str().parse::<LinkSource>().unwrap(), source);
        }
        assert!("fax".parse::<LinkSource>().is_err());
    }

    #[test]
    fn placeholders_are_numbered_from_one() {
        assert!(select_where_in("clubos_user_id", 3).ends_with("IN ($1, $2, $3)"));
    }
}
