//! The link sweep: reads every GHL contact and every Club OS user (GHL's search by
//! `searchAfter`, 500 a page; Club OS's user search, 1,000 a page), runs linking's rules
//! over them all ([`crate::linking::graph`]), stores each confirmed link through the write path
//! (recorded in the outbox, mirrored into GHL's link custom field, caches invalidated)
//! and replaces the review queue of suggestions.
//!
//! Reads never store a link; this sweep and writes do. A stored link then holds however
//! the two records' emails and phones change later.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::{
    error::{GatewayError, System},
    linking::graph::{self, World},
    upstream::{
        UpstreamError,
        clubos::{ClubOsUser, UserSearch},
        ghl::models::{GhlContact, SearchRequest, SearchSort, SortDirection},
        ratelimit::background,
    },
    writes::{self, Overall, Writer, plan},
};

/// GHL's largest search page.
const GHL_PAGE: u32 = 500;
/// Club OS's largest user page (documented).
const CLUBOS_PAGE: u32 = 1000;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// GHL contacts read.
    pub contacts: usize,
    /// Club OS users read.
    pub users: usize,
    /// Links already stored before the sweep.
    pub already_linked: usize,
    /// Links the sweep stored.
    pub linked: usize,
    /// Links it confirmed but could not store (their write failed; the next sweep tries
    /// again).
    pub failed: usize,
    /// Suggestions in the review queue afterwards.
    pub suggestions: usize,
}

/// Runs a sweep at once and then every `every`, for as long as the task lives. A failed
/// sweep is logged and tried again at the next turn.
pub fn spawn(w: Arc<Writer>, region: phonenumber::country::Id, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = sweep(w.clone(), region).await {
                tracing::warn!(
                    code = e.code.as_str(),
                    "link sweep failed; next try at the next turn"
                );
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Runs one sweep.
pub async fn sweep(
    w: Arc<Writer>,
    region: phonenumber::country::Id,
) -> Result<SweepReport, GatewayError> {
    background("links", link(&w, region)).await
}

async fn link(w: &Writer, region: phonenumber::country::Id) -> Result<SweepReport, GatewayError> {
    let ghl_err = |e| GatewayError::upstream(System::Ghl, &e);
    let clubos_err = |e| GatewayError::upstream(System::ClubOs, &e);
    let (contacts, users) =
        futures_util::try_join!(async { all_contacts(w).await.map_err(ghl_err) }, async {
            all_users(w).await.map_err(clubos_err)
        })?;
    let links = w.store.all_links().await.map_err(writes::store_err)?;
    let field = w.link_field.id().await.map_err(ghl_err)?;
    let world = World {
        contacts: &contacts,
        users: &users,
        links: &links,
        link_field: field,
        region,
    };
    let matches = graph::sweep(&world);
    let mut report = SweepReport {
        contacts: contacts.len(),
        users: users.len(),
        already_linked: links.len(),
        ..SweepReport::default()
    };
    for link in matches.links {
        let (ghl, user) = (link.ghl_contact_id.clone(), link.clubos_user_id);
        let why = writes::Why::sync(
            "links",
            "storeLink",
            format!("the link sweep confirmed it by {}", link.source.as_str()),
        );
        match writes::execute(w, plan::confirm(link), None, why).await {
            Ok(outcome) if outcome.overall() == Overall::Applied => report.linked += 1,
            Ok(_) | Err(_) => {
                tracing::warn!(ghl, user, "the link sweep could not store a link");
                report.failed += 1;
            }
        }
    }
    report.suggestions = w
        .store
        .replace_suggestions(&matches.suggestions)
        .await
        .map_err(writes::store_err)?;
    tracing::info!(
        contacts = report.contacts,
        users = report.users,
        linked = report.linked,
        failed = report.failed,
        suggestions = report.suggestions,
        "link sweep done"
    );
    Ok(report)
}

/// Every GHL contact of the location, oldest first.
async fn all_contacts(w: &Writer) -> Result<Vec<GhlContact>, UpstreamError> {
    let mut search = SearchRequest {
        page_limit: GHL_PAGE,
        sort: vec![SearchSort {
            field: "dateAdded".into(),
            direction: SortDirection::Asc,
        }],
        ..SearchRequest::default()
    };
    let mut out = Vec::new();
    loop {
        let page = w.ghl.search_contacts(&search).await?;
        let last: Option<Vec<Value>> = page.contacts.last().and_then(|c| c.search_after.clone());
        let full = page.contacts.len() == GHL_PAGE as usize;
        out.extend(page.contacts);
        match last {
            Some(after) if full => search.search_after = Some(after),
            _ => return Ok(out),
        }
    }
}

/// Every Club OS user, in id order.
async fn all_users(w: &Writer) -> Result<Vec<ClubOsUser>, UpstreamError> {
    let mut search = UserSearch {
        size: CLUBOS_PAGE,
        sort_on: Some("userId".into()),
        ..UserSearch::default()
    };
    let mut out = Vec::new();
    loop {
        let page = w.clubos.search_users(&search).await?;
        let done = page.content.is_empty() || u64::from(search.page) + 1 >= page.total_pages;
        out.extend(page.content);
        if done {
            return Ok(out);
        }
        search.page += 1;
    }
}
