//! Matches the link sweep could not confirm, kept for staff to decide: linked with
//! `linkContacts` (storing the link drops the pair's suggestions) or dismissed, which is
//! remembered so that the sweep never suggests the pair again.

use std::collections::HashSet;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::changes::{ChangeKind, NewChange, Origin};
use super::{LinkSource, Store, StoreError, now_ms};

/// A pair for staff to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The GHL contact.
    pub ghl_contact_id: String,
    /// The Club OS user.
    pub clubos_user_id: i64,
    /// The rule that matched them (email, phone or the link field).
    pub rule: LinkSource,
    /// What they share and who else shares it, in words.
    pub evidence: String,
    /// 0 to 100: higher is likelier the same person.
    pub score: i64,
    /// When the sweep first suggested the pair, epoch milliseconds.
    pub created_at_ms: i64,
}

/// A suggestion as the sweep finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSuggestion {
    /// The GHL contact.
    pub ghl_contact_id: String,
    /// The Club OS user.
    pub clubos_user_id: i64,
    /// The rule that matched them.
    pub rule: LinkSource,
    /// What they share, in words.
    pub evidence: String,
    /// 0 to 100.
    pub score: i64,
}

/// Where a page of the review queue starts: after this suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePosition {
    pub score: i64,
    pub ghl_contact_id: String,
    pub clubos_user_id: i64,
}

impl Store {
    /// Makes the stored suggestions the sweep's `current` ones, in one transaction: pairs
    /// no longer found are dropped, new pairs added (and logged), found pairs refreshed.
    /// Pairs staff dismissed and pairs of which either record is linked are left out.
    /// Answers how many suggestions are held afterwards.
    pub async fn replace_suggestions(
        &self,
        current: &[NewSuggestion],
    ) -> Result<usize, StoreError> {
        self.retrying_races("replace_suggestions", || {
            self.try_replace_suggestions(current)
        })
        .await
    }

    async fn try_replace_suggestions(
        &self,
        current: &[NewSuggestion],
    ) -> Result<usize, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let dismissed = pairs(
            &mut tx,
            "SELECT ghl_contact_id, clubos_user_id FROM link_dismissals",
        )
        .await?;
        let held = pairs(
            &mut tx,
            "SELECT ghl_contact_id, clubos_user_id FROM link_suggestions",
        )
        .await?;
        let links = pairs(
            &mut tx,
            "SELECT ghl_contact_id, clubos_user_id FROM contact_links",
        )
        .await?;
        let linked_ghl: HashSet<&str> = links.iter().map(|(g, _)| g.as_str()).collect();
        let linked_users: HashSet<i64> = links.iter().map(|(_, u)| *u).collect();
        let wanted: Vec<&NewSuggestion> = current
            .iter()
            .filter(|s| {
                let pair = (s.ghl_contact_id.clone(), s.clubos_user_id);
                !dismissed.contains(&pair)
                    && !linked_ghl.contains(s.ghl_contact_id.as_str())
                    && !linked_users.contains(&s.clubos_user_id)
            })
            .collect();
        let keep: HashSet<(String, i64)> = wanted
            .iter()
            .map(|s| (s.ghl_contact_id.clone(), s.clubos_user_id))
            .collect();
        for (ghl, user) in held.difference(&keep) {
            sqlx::query(
                "DELETE FROM link_suggestions WHERE ghl_contact_id = $1 AND clubos_user_id = $2",
            )
            .bind(ghl.clone())
            .bind(*user)
            .execute(&mut *tx)
            .await?;
        }
        for s in &wanted {
            let pair = (s.ghl_contact_id.clone(), s.clubos_user_id);
            if held.contains(&pair) {
                sqlx::query(
                    "UPDATE link_suggestions SET rule = $3, evidence = $4, score = $5, \
                     updated_at_ms = $6 WHERE ghl_contact_id = $1 AND clubos_user_id = $2",
                )
                .bind(s.ghl_contact_id.clone())
                .bind(s.clubos_user_id)
                .bind(s.rule.as_str())
                .bind(s.evidence.clone())
                .bind(s.score)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            sqlx::query(
                "INSERT INTO link_suggestions (ghl_contact_id, clubos_user_id, rule, evidence, \
                 score, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(s.ghl_contact_id.clone())
            .bind(s.clubos_user_id)
            .bind(s.rule.as_str())
            .bind(s.evidence.clone())
            .bind(s.score)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let added = NewChange {
                kind: ChangeKind::SuggestionAdded,
                ghl_contact_id: Some(&s.ghl_contact_id),
                clubos_user_id: Some(s.clubos_user_id),
                fields: &[],
                origin: Origin::Sync,
                record: None,
            };
            self.append_change(&mut tx, &added).await?;
        }
        self.commit_logged(tx).await?;
        Ok(keep.len())
    }

    /// Up to `limit` suggestions of the review queue, likeliest first (score, then GHL id,
    /// then Club OS id), after `after`.
    pub async fn suggestions(
        &self,
        after: Option<&QueuePosition>,
        limit: i64,
    ) -> Result<Vec<Suggestion>, StoreError> {
        const OPERATION: &str = "suggestions";
        const SELECT: &str = "SELECT ghl_contact_id, clubos_user_id, rule, evidence, score, \
                              created_at_ms FROM link_suggestions";
        const ORDER: &str = "ORDER BY score DESC, ghl_contact_id, clubos_user_id";
        let rows = match after {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} {ORDER} LIMIT $1")))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            Some(p) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE score < $1 OR (score = $1 AND ghl_contact_id > $2) \
                     OR (score = $1 AND ghl_contact_id = $2 AND clubos_user_id > $3) \
                     {ORDER} LIMIT $4"
                )))
                .bind(p.score)
                .bind(p.ghl_contact_id.clone())
                .bind(p.clubos_user_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| self.query_error(OPERATION, e))?;
        rows.iter()
            .map(|row| self.suggestion_from_row(OPERATION, row))
            .collect()
    }

    /// How many suggestions wait for staff.
    pub async fn suggestion_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM link_suggestions")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.query_error("suggestion_count", e))?;
        row.try_get("n")
            .map_err(|e| self.query_error("suggestion_count", e))
    }

    /// Dismisses the suggestion of a pair: it is dropped, and the pair is remembered as
    /// not one person so that no later sweep suggests it again. Answers whether the pair
    /// is dismissed now (`false`: nothing suggested it, and nothing changed). Dismissing
    /// a pair again is harmless.
    pub async fn dismiss_suggestion(
        &self,
        ghl_contact_id: &str,
        clubos_user_id: i64,
    ) -> Result<bool, StoreError> {
        self.retrying_races("dismiss_suggestion", || {
            self.try_dismiss(ghl_contact_id, clubos_user_id)
        })
        .await
    }

    async fn try_dismiss(&self, ghl: &str, user: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM link_suggestions WHERE ghl_contact_id = $1 AND clubos_user_id = $2",
        )
        .bind(ghl.to_owned())
        .bind(user)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            let before = sqlx::query(
                "SELECT 1 AS held FROM link_dismissals \
                 WHERE ghl_contact_id = $1 AND clubos_user_id = $2",
            )
            .bind(ghl.to_owned())
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(before.is_some());
        }
        sqlx::query(
            "INSERT INTO link_dismissals (ghl_contact_id, clubos_user_id, dismissed_at_ms) \
             VALUES ($1, $2, $3)",
        )
        .bind(ghl.to_owned())
        .bind(user)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let dismissed = NewChange {
            kind: ChangeKind::SuggestionDismissed,
            ghl_contact_id: Some(ghl),
            clubos_user_id: Some(user),
            fields: &[],
            origin: Origin::Write,
            record: None,
        };
        self.append_change(&mut tx, &dismissed).await?;
        self.commit_logged(tx).await?;
        Ok(true)
    }

    fn suggestion_from_row(
        &self,
        operation: &'static str,
        row: &AnyRow,
    ) -> Result<Suggestion, StoreError> {
        let field = |e| self.query_error(operation, e);
        let rule: String = row.try_get("rule").map_err(field)?;
        Ok(Suggestion {
            ghl_contact_id: row.try_get("ghl_contact_id").map_err(field)?,
            clubos_user_id: row.try_get("clubos_user_id").map_err(field)?,
            rule: rule.parse()?,
            evidence: row.try_get("evidence").map_err(field)?,
            score: row.try_get("score").map_err(field)?,
            created_at_ms: row.try_get("created_at_ms").map_err(field)?,
        })
    }
}

/// The (GHL id, Club OS id) pairs a two-column query answers.
async fn pairs(
    conn: &mut AnyConnection,
    sql: &'static str,
) -> Result<HashSet<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("ghl_contact_id")?,
                row.try_get("clubos_user_id")?,
            ))
        })
        .collect()
}
