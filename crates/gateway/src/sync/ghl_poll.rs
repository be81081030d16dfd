//! The GHL poll: the contacts GHL changed since the stored cursor, by `POST
//! /contacts/search` filtered and sorted by `dateUpdated` (oldest first, `searchAfter`
//! paging). GHL retries a webhook only when it is answered 429, so a delivery lost on
//! the way is never sent again: this is the safety net, and the change source when no
//! webhook keys are configured. Each changed contact is stored in the read model,
//! dropped from the caches and, with `sync.propagate`, carried to its linked Club OS
//! user exactly as a webhook would ([`super::ghl::Propagation`]).
//!
//! The range is inclusive (`gte` the cursor), so contacts changed in the cursor's own
//! millisecond are seen again by the next poll: values are compared, so that writes
//! nothing.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{
    PollReport, SyncConfig,
    ghl::{Carried, Propagation},
    later,
};
use crate::{
    error::{GatewayError, System},
    store::ReadSource,
    upstream::{
        ghl::models::{FilterOp, SearchFilter, SearchRequest, SearchSort, SortDirection},
        ratelimit::background,
    },
    writes::{self, Writer},
};

/// The poll's name in the store's cursors.
pub const SOURCE: &str = "ghl_contacts";

/// GHL's largest search page.
const PAGE: u32 = 500;

/// Polls at once and then every `sync.interval_minutes`, for as long as the task lives.
pub fn spawn(w: Arc<Writer>, cfg: SyncConfig, region: phonenumber::country::Id) -> JoinHandle<()> {
    let every = Duration::from_secs(cfg.interval_minutes * 60);
    tokio::spawn(async move {
        loop {
            if let Err(e) = poll(w.clone(), cfg.clone(), region).await {
                tracing::warn!(
                    code = e.code.as_str(),
                    "GHL poll failed; next try at the next turn"
                );
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Runs one poll.
pub async fn poll(
    w: Arc<Writer>,
    cfg: SyncConfig,
    region: phonenumber::country::Id,
) -> Result<PollReport, GatewayError> {
    let polled = || {
        if let Some(rm) = &w.read_model {
            rm.trust().ghl_polled();
        }
    };
    let carrier = (cfg.propagate || cfg.create_in_clubos).then(|| Propagation {
        writer: w.clone(),
        config: cfg.clone(),
        region,
        source: SOURCE,
    });
    background(
        SOURCE,
        super::turn(&w, SOURCE, polled, |since| run(&w, carrier, since)),
    )
    .await
}

async fn run(
    w: &Writer,
    carrier: Option<Propagation>,
    since: String,
) -> Result<PollReport, GatewayError> {
    let mut search = SearchRequest {
        page_limit: PAGE,
        filters: vec![SearchFilter::cond(
            "dateUpdated",
            FilterOp::Range,
            json!({"gte": since}),
        )],
        sort: vec![SearchSort {
            field: "dateUpdated".into(),
            direction: SortDirection::Asc,
        }],
        ..SearchRequest::default()
    };
    let mut report = PollReport {
        cursor: since,
        ..PollReport::default()
    };
    loop {
        let page = w
            .ghl
            .search_contacts(&search)
            .await
            .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
        if let Some(rm) = &w.read_model {
            rm.put(&page.contacts, ReadSource::GhlPoll)
                .await
                .map_err(writes::store_err)?;
        }
        for contact in &page.contacts {
            report.seen += 1;
            if let Some(at) = &contact.date_updated
                && later(at, &report.cursor)
            {
                report.cursor.clone_from(at);
            }
            w.caches.invalidate_ghl_contact(&contact.id).await;
            if let Some(p) = &carrier {
                match p.contact_changed(&contact.id).await? {
                    Carried::Written => report.propagated += 1,
                    Carried::Unchanged => report.unchanged += 1,
                    Carried::Unlinked => report.unlinked += 1,
                    Carried::Created => report.created += 1,
                    Carried::Failed => report.failed += 1,
                    Carried::Held => {}
                }
            }
        }
        let last: Option<Vec<Value>> = page.contacts.last().and_then(|c| c.search_after.clone());
        if page.contacts.len() < PAGE as usize || last.is_none() {
            return Ok(report);
        }
        search.search_after = last;
    }
}
