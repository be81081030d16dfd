//! The backfill: every GHL contact and every Club OS user read once into the read model,
//! page by page, each page's position stored as it is done, so that a run stopped at
//! any point (even by SIGKILL) resumes at the page it was on. When a kind is finished
//! its cursor reads [`BACKFILL_DONE`] and, while its change source keeps it fresh, the
//! read model answers lookups for it (see [`crate::read_model`]).
//!
//! GHL contacts come from `POST /contacts/search` (largest page, `searchAfter` paging),
//! Club OS users from the v3 search in id order. Tasks, notes, appointments and events,
//! which GHL and Club OS list per person, are not backfilled: each person's fill on first
//! read and stay fresh by webhook (GHL) or by age (Club OS events).

use serde_json::Value;

use crate::{
    clock::iso_ms,
    error::{GatewayError, System},
    read_model::{BACKFILL_DONE, ReadModel, backfill_source},
    store::{ReadSource, RecordKind},
    upstream::{
        clubos::{ClubOsClient, ClubOsUser, SortDir, UserSearch},
        ghl::{
            GhlClient,
            models::{GhlContact, SearchRequest, SearchSort, SortDirection},
        },
        ratelimit::background,
    },
    writes::store_err,
};

/// GHL's largest search page.
const GHL_PAGE: u32 = 500;

/// What one backfill run did, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// GHL contacts read (this run).
    pub ghl_contacts: usize,
    /// Club OS users read (this run).
    pub clubos_users: usize,
    /// Records new or changed in the read model.
    pub changed: usize,
    /// Pages read from both upstreams.
    pub pages: usize,
}

/// Reads everything not yet backfilled; kinds already done are skipped. `clubos_page`
/// is the Club OS page size. Also starts the Club OS poll's cursor when it has none, so
/// that changes made while the backfill runs are polled afterwards.
/// Its GHL calls are background work (see [`crate::upstream::ratelimit`]).
pub async fn run(
    ghl: &GhlClient,
    clubos: &ClubOsClient,
    model: &ReadModel,
    clubos_page: u32,
) -> Result<BackfillReport, GatewayError> {
    background(
        &backfill_source(RecordKind::GhlContact),
        fill(ghl, clubos, model, clubos_page),
    )
    .await
}

async fn fill(
    ghl: &GhlClient,
    clubos: &ClubOsClient,
    model: &ReadModel,
    clubos_page: u32,
) -> Result<BackfillReport, GatewayError> {
    let store = model.store();
    if store
        .sync_cursor(super::clubos::SOURCE)
        .await
        .map_err(store_err)?
        .is_none_or(|c| c.position.is_empty())
    {
        store
            .advance_sync_cursor(super::clubos::SOURCE, &iso_ms(crate::store::now_ms()))
            .await
            .map_err(store_err)?;
    }
    let mut report = BackfillReport::default();
    contacts(ghl, model, &mut report).await?;
    users(clubos, model, clubos_page, &mut report).await?;
    Ok(report)
}

/// Where the backfill of `kind` stands: `None` when done, else the stored position
/// (empty for a fresh start).
async fn position(model: &ReadModel, kind: RecordKind) -> Result<Option<String>, GatewayError> {
    let cursor = model
        .store()
        .sync_cursor(&backfill_source(kind))
        .await
        .map_err(store_err)?;
    Ok(match cursor {
        Some(c) if c.position == BACKFILL_DONE => None,
        Some(c) => Some(c.position),
        None => Some(String::new()),
    })
}

async fn contacts(
    ghl: &GhlClient,
    model: &ReadModel,
    report: &mut BackfillReport,
) -> Result<(), GatewayError> {
    let source = backfill_source(RecordKind::GhlContact);
    let Some(at) = position(model, RecordKind::GhlContact).await? else {
        return Ok(());
    };
    let mut after: Option<Vec<Value>> = serde_json::from_str(&at).ok();
    loop {
        let (page, total, next) = ghl_page(ghl, after).await?;
        report.pages += 1;
        report.ghl_contacts += page.len();
        report.changed += model
            .put(&page, ReadSource::Backfill)
            .await
            .map_err(store_err)?;
        model.upstream_total_seen(RecordKind::GhlContact, total);
        let position = match &next {
            Some(n) => serde_json::to_string(n).unwrap_or_default(),
            None => BACKFILL_DONE.to_owned(),
        };
        model
            .store()
            .advance_sync_cursor(&source, &position)
            .await
            .map_err(store_err)?;
        if next.is_none() {
            return Ok(());
        }
        after = next;
    }
}

/// One page of GHL contacts in `dateAdded` order after `after`: the contacts, GHL's total
/// and the cursor of the next page (none after the last).
pub(super) async fn ghl_page(
    ghl: &GhlClient,
    after: Option<Vec<Value>>,
) -> Result<(Vec<GhlContact>, u64, Option<Vec<Value>>), GatewayError> {
    let page = ghl
        .search_contacts(&SearchRequest {
            page_limit: GHL_PAGE,
            search_after: after,
            sort: vec![SearchSort {
                field: "dateAdded".into(),
                direction: SortDirection::Asc,
            }],
            ..SearchRequest::default()
        })
        .await
        .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
    let last = page.contacts.last().and_then(|c| c.search_after.clone());
    let next = last.filter(|_| page.contacts.len() >= GHL_PAGE as usize);
    Ok((page.contacts, page.total, next))
}

/// Page `page` of Club OS users in id order: the users, Club OS's total and whether
/// another page follows.
pub(super) async fn clubos_page(
    clubos: &ClubOsClient,
    page: u32,
    size: u32,
) -> Result<(Vec<ClubOsUser>, u64, bool), GatewayError> {
    let found = clubos
        .search_users(&UserSearch {
            page,
            size,
            sort_on: Some("userId".into()),
            sort_dir: Some(SortDir::Asc),
            ..UserSearch::default()
        })
        .await
        .map_err(|e| GatewayError::upstream(System::ClubOs, &e))?;
    let more = !found.content.is_empty() && u64::from(page) + 1 < found.total_pages;
    Ok((found.content, found.total_elements, more))
}

async fn users(
    clubos: &ClubOsClient,
    model: &ReadModel,
    size: u32,
    report: &mut BackfillReport,
) -> Result<(), GatewayError> {
    let source = backfill_source(RecordKind::ClubOsUser);
    let Some(at) = position(model, RecordKind::ClubOsUser).await? else {
        return Ok(());
    };
    let mut page_no: u32 = at.parse().unwrap_or(0);
    loop {
        let (page, total, more) = clubos_page(clubos, page_no, size).await?;
        report.pages += 1;
        report.clubos_users += page.len();
        report.changed += model
            .put(&page, ReadSource::Backfill)
            .await
            .map_err(store_err)?;
        model.upstream_total_seen(RecordKind::ClubOsUser, total);
        let next = if more {
            (page_no + 1).to_string()
        } else {
            BACKFILL_DONE.to_owned()
        };
        model
            .store()
            .advance_sync_cursor(&source, &next)
            .await
            .map_err(store_err)?;
        if !more {
            return Ok(());
        }
        page_no += 1;
    }
}
