//! The identity graph for staff: how and when a stored link was confirmed, and the review
//! queue of matches the link sweep could not confirm (`linkSuggestions`).

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result, SimpleObject};
use serde_json::json;

use super::{
    contact::{ClubOsView, GhlView},
    listing::{PageInfo, decode, encode, page_size},
};
use crate::{
    clock::iso_ms,
    error::{ErrorCode, GatewayError},
    loaders::{self, Loaders},
    store::{Link, QueuePosition, Suggestion},
    writes,
};

/// How a stored link was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::LinkSource")]
pub enum LinkSource {
    /// Staff linked the records (`linkContacts`).
    Manual,
    /// The one email both records hold and no other record does.
    Email,
    /// The one phone both records hold and no other record does.
    Phone,
    /// GHL's link custom field named the Club OS user.
    CustomField,
    /// The gateway created one record from the other.
    #[graphql(name = "CREATED_TOGETHER")]
    Created,
}

/// Who confirmed a stored link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::Origin", name = "ConfirmedBy")]
pub enum ConfirmedBy {
    /// A write through the gateway (a mutation, a create).
    Write,
    /// The link sweep.
    Sync,
}

/// A link the gateway stores: it holds however the records' emails and phones change,
/// until someone unlinks it.
#[derive(Debug, Clone, SimpleObject)]
pub struct StoredLink {
    /// The GHL contact id.
    pub ghl_contact_id: ID,
    /// The Club OS user id.
    pub club_os_user_id: ID,
    /// How it was established.
    pub how: LinkSource,
    /// Who confirmed it.
    pub confirmed_by: ConfirmedBy,
    /// What the match rested on (the shared email or phone, the link field), when known.
    pub evidence: Option<String>,
    /// When the pair was first stored (ISO-8601).
    pub linked_at: String,
}

impl From<Link> for StoredLink {
    fn from(l: Link) -> Self {
        Self {
            ghl_contact_id: ID(l.ghl_contact_id),
            club_os_user_id: ID(l.clubos_user_id.to_string()),
            how: l.source.into(),
            confirmed_by: l.confirmed_by.into(),
            evidence: l.evidence,
            linked_at: iso_ms(l.linked_at_ms),
        }
    }
}

/// A suggestion of the review queue.
pub struct LinkSuggestion(Suggestion);

/// A GHL contact and a Club OS user that may be one person: what they share is shared by
/// other records too, so only staff can decide. `linkContacts` with the two ids links
/// them (and drops their suggestions); `dismissLinkSuggestion` turns the pair down for
/// good.
#[Object]
impl LinkSuggestion {
    /// The GHL contact's id (`linkContacts`' `ghlContactId`).
    async fn ghl_contact_id(&self) -> ID {
        ID(self.0.ghl_contact_id.clone())
    }

    /// The Club OS user's id (`linkContacts`' `clubOsUserId`).
    async fn club_os_user_id(&self) -> ID {
        ID(self.0.clubos_user_id.to_string())
    }

    /// The GHL contact as GHL holds it; null when it is gone.
    async fn ghl(&self, ctx: &Context<'_>) -> Result<Option<GhlView>> {
        let l = ctx.data::<Loaders>()?;
        let c = loaders::one(&l.ghl_contact, self.0.ghl_contact_id.clone())
            .await
            .map_err(|e| e.extend())?;
        Ok(c.map(GhlView::from))
    }

    /// The Club OS user as Club OS holds them; null when they are gone.
    async fn club_os(&self, ctx: &Context<'_>) -> Result<Option<ClubOsView>> {
        let l = ctx.data::<Loaders>()?;
        let u = loaders::one(&l.clubos_user, self.0.clubos_user_id)
            .await
            .map_err(|e| e.extend())?;
        Ok(u.map(|u| ClubOsView::new(&u, l.readers().phone_region)))
    }

    /// The rule that matched them.
    async fn rule(&self) -> LinkSource {
        self.0.rule.into()
    }

    /// What they share and how many records of each system share it.
    async fn evidence(&self) -> &str {
        &self.0.evidence
    }

    /// 0 to 100, higher is likelier: 80 for the link field, 60 for an email, 40 for a
    /// phone, plus 15 for the same first name and 10 for the same last name.
    async fn score(&self) -> i64 {
        self.0.score
    }

    /// When the link sweep first suggested the pair (ISO-8601).
    async fn suggested_at(&self) -> String {
        iso_ms(self.0.created_at_ms)
    }
}

/// A page of the review queue (a Relay connection), likeliest first.
#[derive(SimpleObject)]
pub struct LinkSuggestionConnection {
    /// The suggestions of this page, each with its cursor.
    pub edges: Vec<LinkSuggestionEdge>,
    /// Where this page stands in the queue.
    pub page_info: PageInfo,
    /// How many suggestions wait in all.
    pub total_count: i64,
}

/// One suggestion of a page.
#[derive(SimpleObject)]
pub struct LinkSuggestionEdge {
    /// Pass as `after` to continue after this suggestion.
    pub cursor: String,
    /// The suggestion.
    pub node: LinkSuggestion,
}

/// The review queue.
#[derive(Debug, Default)]
pub struct IdentityQueries;

#[Object]
impl IdentityQueries {
    /// Matches the link sweep could not confirm, for staff to link or dismiss, likeliest
    /// first. Filled by the sweep (`syncLinks`, or `[sync] links` on a schedule).
    async fn link_suggestions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Page size, 1 to 100.")] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<LinkSuggestionConnection> {
        let size = page_size(first)?;
        let after = after.as_deref().map(position).transpose()?;
        let store = &ctx.data::<Loaders>()?.readers().store;
        let unavailable = |e| writes::store_err(e).extend();
        let limit = i64::try_from(size + 1).unwrap_or(i64::MAX);
        let mut rows = store
            .suggestions(after.as_ref(), limit)
            .await
            .map_err(unavailable)?;
        let has_next = rows.len() > size;
        rows.truncate(size);
        let total_count = store.suggestion_count().await.map_err(unavailable)?;
        let edges: Vec<LinkSuggestionEdge> = rows
            .into_iter()
            .map(|s| LinkSuggestionEdge {
                cursor: encode(&json!([s.score, s.ghl_contact_id, s.clubos_user_id])),
                node: LinkSuggestion(s),
            })
            .collect();
        Ok(LinkSuggestionConnection {
            page_info: PageInfo {
                has_next_page: has_next,
                has_previous_page: after.is_some(),
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count,
        })
    }
}

/// Reads a queue cursor back.
fn position(cursor: &str) -> Result<QueuePosition> {
    let v = decode(cursor)?;
    let parsed = (|| {
        Some(QueuePosition {
            score: v.get(0)?.as_i64()?,
            ghl_contact_id: v.get(1)?.as_str()?.to_owned(),
            clubos_user_id: v.get(2)?.as_i64()?,
        })
    })();
    parsed.ok_or_else(|| {
        GatewayError::new(
            ErrorCode::BadUserInput,
            "after is not a cursor this list gave out",
        )
        .extend()
    })
}
