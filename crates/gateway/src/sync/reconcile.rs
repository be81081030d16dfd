//! Reconcile: a full comparison of the read model with the upstreams, on demand
//! (`reconcile`) or on a schedule (`[read_model] reconcile_hours`). Every GHL contact and
//! Club OS user is read (as the backfill reads them) and compared with its stored copy:
//! what the store lacked (missing), what it holds that the upstream no longer has
//! (extra: deleted without a webhook) and what it holds differently (a missed change)
//! is repaired and counted in a drift report per kind, kept in the store for operators
//! (`driftReports`).

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;

use super::backfill::{clubos_page, ghl_page};
use crate::{
    error::GatewayError,
    loaders::Readers,
    read_model::ReadModel,
    store::{Drift, RecordKind},
    upstream::ratelimit::background,
    writes::store_err,
};

/// What one run found (and repaired), per kind.
pub type ReconcileReport = Vec<(RecordKind, Drift)>;

/// Compares and repairs GHL contacts, then Club OS users (`clubos_page` users a page),
/// storing a drift report for each. Its GHL calls are background work.
pub async fn run(
    r: &Readers,
    model: &ReadModel,
    clubos_page_size: u32,
) -> Result<ReconcileReport, GatewayError> {
    background("reconcile", compare(r, model, clubos_page_size)).await
}

async fn compare(
    r: &Readers,
    model: &ReadModel,
    clubos_page_size: u32,
) -> Result<ReconcileReport, GatewayError> {
    let mut contacts = Vec::new();
    let mut after = None;
    loop {
        let (page, _, next) = ghl_page(&r.ghl, after).await?;
        contacts.extend(page);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut users = Vec::new();
    let mut page_no = 0;
    loop {
        let (page, _, more) = clubos_page(&r.clubos, page_no, clubos_page_size).await?;
        users.extend(page);
        if !more {
            break;
        }
        page_no += 1;
    }
    let ghl = model.reconcile(&contacts).await.map_err(store_err)?;
    let clubos = model.reconcile(&users).await.map_err(store_err)?;
    let mut report = Vec::new();
    for (kind, drift) in [
        (RecordKind::GhlContact, ghl),
        (RecordKind::ClubOsUser, clubos),
    ] {
        model
            .store()
            .put_drift_report(kind, &drift)
            .await
            .map_err(store_err)?;
        for id in drift.extra.iter().chain(&drift.differing) {
            forget(r, kind, id).await;
        }
        report.push((kind, drift));
    }
    Ok(report)
}

/// Drops a repaired record from the caches.
async fn forget(r: &Readers, kind: RecordKind, id: &str) {
    match kind {
        RecordKind::GhlContact => r.caches.invalidate_ghl_contact(id).await,
        _ => {
            if let Ok(user) = id.parse() {
                r.caches.invalidate_clubos_user(user).await;
            }
        }
    }
}

/// Reconciles every `every`, the first time one interval after start (the backfill
/// runs first).
pub fn spawn(
    r: Arc<Readers>,
    model: ReadModel,
    clubos_page_size: u32,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match run(&r, &model, clubos_page_size).await {
                Ok(report) => {
                    for (kind, d) in &report {
                        tracing::info!(
                            kind = kind.as_str(),
                            missing = d.missing.len(),
                            extra = d.extra.len(),
                            differing = d.differing.len(),
                            "reconciled"
                        );
                    }
                }
                Err(e) => tracing::warn!(code = e.code.as_str(), "reconcile failed"),
            }
        }
    })
}
