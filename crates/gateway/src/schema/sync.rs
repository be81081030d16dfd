//! The sync engine for operators: what propagation would write (`syncPlan`, a dry run)
//! where each change source stands (`syncStatus`) and what GHL's budget has left
//! (`ghlBudget`).

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, Object, Result, SimpleObject};
use futures_util::{FutureExt, future::join_all};
use serde_json::json;

use super::listing::{PageInfo, decode, encode, page_size};
use crate::{
    clock::iso_ms,
    loaders::{self, Loaders},
    read_model::backfill_source,
    store::{DriftReport, RecordKind},
    sync::{self, SyncConfig, clubos, clubos_events, ghl_poll, mapping},
    writes::{self, Writer},
};

/// One field GHL would change.
#[derive(Debug, Clone, SimpleObject)]
pub struct PlannedChange {
    /// The field, as `[sync.fields]` names it (`tags` for the membership tags).
    pub field: String,
    /// What GHL holds now.
    pub from: Option<String>,
    /// What it would hold.
    pub to: Option<String>,
}

/// What propagation would write to one linked person's GHL contact.
#[derive(Debug, Clone, SimpleObject)]
pub struct PlannedWrite {
    pub ghl_contact_id: ID,
    pub club_os_user_id: ID,
    /// Field by field.
    pub changes: Vec<PlannedChange>,
}

/// A page of the dry run: the stored links of the page, with a write for each person
/// whose GHL contact does not agree with Club OS.
#[derive(Debug, Clone, SimpleObject)]
pub struct SyncPlan {
    /// The people of this page that propagation would write to.
    pub writes: Vec<PlannedWrite>,
    /// How many linked people this page compared.
    pub compared: i32,
    /// Over the stored links, in GHL id order.
    pub page_info: PageInfo,
}

/// One change source.
#[derive(Debug, Clone, SimpleObject)]
pub struct SourceStatus {
    /// The source: `clubos_users` (the Club OS poll), `ghl_contacts` (the GHL poll),
    /// `clubos_events` (the Club OS events poll, whose cursor is when it last read its
    /// window),
    /// `backfill:ghl_contact` and `backfill:clubos_user` (the read model's backfill, whose
    /// cursor reads `done` once finished).
    pub source: String,
    /// Whether it runs on a schedule (`[sync] clubos_poll`, `[sync] ghl_poll`) or, for a
    /// backfill, at start with the read model on.
    pub scheduled: bool,
    /// Whether it carries changes to the other system (`[sync] propagate`).
    pub propagates: bool,
    /// Where the next run starts (ISO-8601), once a run succeeded.
    pub cursor: Option<String>,
    /// When a run last succeeded (ISO-8601).
    pub last_success_at: Option<String>,
    /// The error code of the last failed run, cleared by a success.
    pub last_error: Option<String>,
    /// GHL requests this source made in the current budget day (see `ghlBudget`).
    pub budget_used: i64,
    /// For a backfill source: how many records of its kind the read model holds now,
    /// whichever run or process stored them (a backfill resumed after a restart counts
    /// what the earlier run stored too).
    pub records_stored: Option<i64>,
    /// For a backfill source: how many records the upstream holds, as the latest
    /// backfill page this gateway process read said; none before one.
    pub records_total: Option<i64>,
}

/// GHL requests one source of background work made.
#[derive(Debug, Clone, SimpleObject)]
pub struct BudgetUse {
    /// `backfill:ghl_contact`, `clubos_users`, `ghl_contacts`, `reconcile`, `links` or
    /// `relay` (the outbox relay's retries).
    pub source: String,
    /// Requests in the current budget day.
    pub used: i64,
}

/// GHL's request budget for the location and how it is shared: interactive work (reads
/// through, mutations) goes first; background work (backfill, polls, reconcile, the
/// link sweep, propagation retries) takes at most its share of each window, only what
/// interactive work leaves, and stops for the day at its daily share.
/// (`[ghl.rate_limit]`).
#[derive(Debug, Clone, SimpleObject)]
pub struct GhlBudget {
    /// Requests the gateway sends per window at most (GHL's limit times the headroom).
    pub window_allowed: i32,
    /// The window, in milliseconds.
    pub window_ms: i64,
    /// Of each window, at most this many for background work.
    pub background_window_allowed: i32,
    /// Requests the gateway sends per day at most.
    pub daily_allowed: i64,
    /// Background work stops for the day after this many.
    pub background_daily_allowed: i64,
    /// Interactive requests in the current budget day (days count from the gateway's
    /// start).
    pub interactive_used: i64,
    /// Background requests in the current budget day, over every source.
    pub background_used: i64,
    /// Background requests by source.
    pub by_source: Vec<BudgetUse>,
    /// How long GHL has told the gateway to send nothing more, when it has (ms).
    pub paused_for_ms: Option<i64>,
}

/// What reconcile found for one kind of record (and repaired).
#[derive(Debug, Clone, SimpleObject)]
pub struct Drift {
    /// `ghl_contact` or `clubos_user`.
    pub kind: String,
    /// When it ran (ISO-8601); for a report just made, now.
    pub ran_at: String,
    /// Upstream records compared.
    pub compared: u64,
    /// How many the store lacked.
    pub missing: u64,
    /// How many it held that the upstream no longer has (deleted without a webhook).
    pub extra: u64,
    /// How many it held differently from the upstream.
    pub differing: u64,
    /// Up to 20 ids of the missing records.
    pub missing_ids: Vec<String>,
    /// Up to 20 ids of the extra records.
    pub extra_ids: Vec<String>,
    /// Up to 20 ids of the differing records.
    pub differing_ids: Vec<String>,
}

impl From<DriftReport> for Drift {
    fn from(r: DriftReport) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or_default();
        Self {
            kind: r.kind.as_str().to_owned(),
            ran_at: crate::clock::iso_ms(r.ran_at_ms),
            compared: n(r.compared),
            missing: n(r.missing),
            extra: n(r.extra),
            differing: n(r.differing),
            missing_ids: r.examples.missing,
            extra_ids: r.examples.extra,
            differing_ids: r.examples.differing,
        }
    }
}

/// Dry runs and status.
#[derive(Debug, Default)]
pub struct SyncQueries;

#[Object]
impl SyncQueries {
    /// What propagation would write to GHL, person by person, for the linked people of
    /// one page of stored links, under the configured `[sync.fields]`. Writes nothing.
    async fn sync_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "Stored links per page, 1 to 100.")] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<SyncPlan> {
        let size = page_size(first)?;
        let after = after
            .as_deref()
            .map(|c| decode(c).map(|v| v.as_str().unwrap_or_default().to_owned()))
            .transpose()?;
        let l = ctx.data::<Loaders>()?;
        let cfg = ctx.data::<SyncConfig>()?;
        let writer = ctx.data::<Arc<Writer>>()?;
        let limit = i64::try_from(size + 1).unwrap_or(i64::MAX);
        let mut links = l
            .readers()
            .store
            .links_page(after.as_deref(), limit)
            .await
            .map_err(|e| writes::store_err(e).extend())?;
        let has_next = links.len() > size;
        links.truncate(size);
        let pairs = join_all(links.iter().map(|link| async {
            let (c, u) = futures_util::join!(
                loaders::one(&l.ghl_contact, link.ghl_contact_id.clone()),
                loaders::one(&l.clubos_user, link.clubos_user_id)
            );
            (c, u)
        }))
        .await;
        let region = l.readers().phone_region;
        let facts = if pairs.is_empty() {
            mapping::Facts::default()
        } else {
            sync::facts(writer, cfg).await.map_err(|e| e.extend())?
        };
        let mut planned = Vec::new();
        for (link, (c, u)) in links.iter().zip(pairs) {
            let (Some(c), Some(u)) = (c.map_err(|e| e.extend())?, u.map_err(|e| e.extend())?)
            else {
                continue;
            };
            let recency = sync::recency(writer, &u, &c);
            let changes = mapping::ghl_changes(&u, &c, &cfg.fields, &facts, region, recency);
            if changes.is_empty() {
                continue;
            }
            planned.push(PlannedWrite {
                ghl_contact_id: ID(link.ghl_contact_id.clone()),
                club_os_user_id: ID(link.clubos_user_id.to_string()),
                changes: changes
                    .fields
                    .into_iter()
                    .map(|f| PlannedChange {
                        field: f.field.to_owned(),
                        from: f.from,
                        to: f.to,
                    })
                    .collect(),
            });
        }
        let cursor = |id: &str| encode(&json!(id));
        Ok(SyncPlan {
            writes: planned,
            compared: i32::try_from(links.len()).unwrap_or(i32::MAX),
            page_info: PageInfo {
                has_next_page: has_next,
                has_previous_page: after.is_some(),
                start_cursor: links.first().map(|l| cursor(&l.ghl_contact_id)),
                end_cursor: links.last().map(|l| cursor(&l.ghl_contact_id)),
            },
        })
    }

    /// The latest reconcile runs' drift reports, newest first: per kind, what the read
    /// model lacked, held extra or held differently (each repaired by that run).
    async fn drift_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, desc = "How many reports, 1 to 100.")] last: i32,
    ) -> Result<Vec<Drift>> {
        let last = i64::from(last.clamp(1, 100));
        let store = &ctx.data::<Loaders>()?.readers().store;
        let reports = store
            .drift_reports(last)
            .await
            .map_err(|e| writes::store_err(e).extend())?;
        Ok(reports.into_iter().map(Drift::from).collect())
    }

    /// Where each change source stands.
    async fn sync_status(&self, ctx: &Context<'_>) -> Result<Vec<SourceStatus>> {
        let l = ctx.data::<Loaders>()?;
        let budget = l.readers().ghl.budget();
        let used = |source: &str| {
            budget
                .background_used
                .iter()
                .find(|(s, _)| s == source)
                .map_or(0, |(_, n)| i64::try_from(*n).unwrap_or(i64::MAX))
        };
        let cfg = ctx.data::<SyncConfig>()?;
        let model = l.readers().read_model.as_ref();
        let filled = |kind| {
            let total = model.and_then(|m| m.upstream_total(kind));
            (
                backfill_source(kind),
                model.is_some(),
                false,
                Some((kind, total)),
            )
        };
        let sources = [
            (
                clubos::SOURCE.to_owned(),
                cfg.clubos_poll,
                cfg.propagate,
                None,
            ),
            (
                ghl_poll::SOURCE.to_owned(),
                cfg.ghl_poll,
                cfg.propagate,
                None,
            ),
            (
                clubos_events::SOURCE.to_owned(),
                cfg.clubos_events_poll,
                false,
                None,
            ),
            filled(RecordKind::GhlContact),
            filled(RecordKind::ClubOsUser),
        ];
        let store = &l.readers().store;
        // Boxed: the schema's future is deep enough without this loop's.
        async move {
            let mut out = Vec::with_capacity(sources.len());
            for (source, scheduled, propagates, backfill) in sources {
                let stored = store
                    .sync_cursor(&source)
                    .await
                    .map_err(|e| writes::store_err(e).extend())?;
                let (records_stored, records_total) = match backfill {
                    Some((kind, total)) => (
                        Some(
                            store
                                .record_count(kind)
                                .await
                                .map_err(|e| writes::store_err(e).extend())?,
                        ),
                        total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
                    ),
                    None => (None, None),
                };
                out.push(SourceStatus {
                    budget_used: used(&source),
                    source,
                    scheduled,
                    propagates,
                    cursor: stored
                        .as_ref()
                        .map(|c| c.position.clone())
                        .filter(|p| !p.is_empty()),
                    last_success_at: stored.as_ref().and_then(|c| c.last_success_ms).map(iso_ms),
                    last_error: stored.and_then(|c| c.last_error),
                    records_stored,
                    records_total,
                });
            }
            Ok(out)
        }
        .boxed()
        .await
    }

    /// GHL's request budget and what the current day used of it, by class and source.
    async fn ghl_budget(&self, ctx: &Context<'_>) -> Result<GhlBudget> {
        let ghl = &ctx.data::<Loaders>()?.readers().ghl;
        let b = ghl.budget();
        let wide = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(GhlBudget {
            window_allowed: i32::try_from(b.window_allowed).unwrap_or(i32::MAX),
            window_ms: i64::try_from(b.window.as_millis()).unwrap_or(i64::MAX),
            background_window_allowed: i32::try_from(b.background_window_allowed)
                .unwrap_or(i32::MAX),
            daily_allowed: i64::from(b.daily_allowed),
            background_daily_allowed: i64::from(b.background_daily_allowed),
            interactive_used: wide(b.interactive_used),
            background_used: wide(b.background_total()),
            by_source: b
                .background_used
                .into_iter()
                .map(|(source, n)| BudgetUse {
                    source,
                    used: wide(n),
                })
                .collect(),
            paused_for_ms: b
                .paused_for
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        })
    }
}
