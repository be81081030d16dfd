//! The sync engine run on demand.

use async_graphql::{Context, Object, Result, SimpleObject};
use futures_util::FutureExt;

use super::{err, writer};
use crate::schema::sync::Drift;
use crate::{
    auth::Role,
    error::{ErrorCode, GatewayError},
    loaders::Loaders,
    schema::RoleGuard,
    sync::{PollReport, SyncConfig, backfill, clubos, clubos_events, ghl_poll, reconcile},
    writes::store_err,
};

/// What one poll (of Club OS or of GHL) did.
#[derive(Debug, Clone, SimpleObject)]
pub struct SyncPoll {
    /// Records the polled system reported changed since the last poll.
    pub seen: u64,
    /// Linked records whose partner in the other system was written (`[sync]
    /// propagate`).
    pub propagated: u64,
    /// Linked records whose partner already agreed.
    pub unchanged: u64,
    /// Records with no stored link.
    pub unlinked: u64,
    /// Records that had no partner in the other system, one made for them and linked
    /// (`[sync] create_in_ghl` for the Club OS poll, `create_in_clubos` for the GHL poll).
    pub created: u64,
    /// Records whose write failed (the relay retries it).
    pub failed: u64,
    /// Where the next poll starts (ISO-8601).
    pub cursor: String,
}

impl From<PollReport> for SyncPoll {
    fn from(r: PollReport) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            seen: n(r.seen),
            propagated: n(r.propagated),
            unchanged: n(r.unchanged),
            unlinked: n(r.unlinked),
            created: n(r.created),
            failed: n(r.failed),
            cursor: r.cursor,
        }
    }
}

/// What one Club OS events poll did.
#[derive(Debug, Clone, SimpleObject)]
pub struct EventPoll {
    /// Events Club OS lists starting in the window (`[sync] events_days_back` before now
    /// to `events_days_ahead` after).
    pub seen: u64,
    /// Members whose stored event lists were brought in line with the window.
    pub members: u64,
    /// Stored events new, changed or removed.
    pub changed: u64,
    /// When this poll read the window (ISO-8601).
    pub cursor: String,
}

impl From<clubos_events::EventPollReport> for EventPoll {
    fn from(r: clubos_events::EventPollReport) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            seen: n(r.seen),
            members: n(r.members),
            changed: n(r.changed),
            cursor: r.cursor,
        }
    }
}

/// What one backfill run read into the read model.
#[derive(Debug, Clone, SimpleObject)]
pub struct Backfill {
    /// GHL contacts read by this run.
    pub ghl_contacts: u64,
    /// Club OS users read by this run.
    pub club_os_users: u64,
    /// Records that were new or changed in the read model.
    pub changed: u64,
    /// Upstream pages read.
    pub pages: u64,
}

impl From<backfill::BackfillReport> for Backfill {
    fn from(r: backfill::BackfillReport) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            ghl_contacts: n(r.ghl_contacts),
            club_os_users: n(r.clubos_users),
            changed: n(r.changed),
            pages: n(r.pages),
        }
    }
}

/// The refusal of read-model work while it is off.
pub(crate) fn read_model_off() -> GatewayError {
    GatewayError::new(
        ErrorCode::BadUserInput,
        "the read model is off: set [read_model] enabled = true",
    )
}

/// Running sync now.
#[derive(Debug, Default)]
pub struct SyncMutations;

#[Object]
impl SyncMutations {
    /// Polls Club OS now for users changed since the last poll and, with `[sync]
    /// propagate`, carries their changes to GHL per `[sync.fields]` (see `syncPlan`).
    /// The first poll only records where polling starts. Needs the `admin` role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn poll_club_os(&self, ctx: &Context<'_>) -> Result<SyncPoll> {
        let region = ctx.data::<Loaders>()?.readers().phone_region;
        let cfg = ctx.data::<SyncConfig>()?.clone();
        // Boxed: the poll's future is deep, and the schema's own is deep enough.
        let poll = clubos::poll(writer(ctx)?.clone(), cfg, region).boxed();
        Ok(poll.await.map_err(err)?.into())
    }

    /// Polls GHL now for contacts changed since the last poll (by `dateUpdated`): they
    /// are stored in the read model and dropped from the caches and, with `[sync]
    /// propagate`, carried to Club OS per `[sync.fields]`. The safety net for missed
    /// webhooks. The first poll only records where polling starts. Needs the `admin`
    /// role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn poll_ghl(&self, ctx: &Context<'_>) -> Result<SyncPoll> {
        let region = ctx.data::<Loaders>()?.readers().phone_region;
        let cfg = ctx.data::<SyncConfig>()?.clone();
        let poll = ghl_poll::poll(writer(ctx)?.clone(), cfg, region).boxed();
        Ok(poll.await.map_err(err)?.into())
    }

    /// Polls Club OS now for the events starting in the window around now and brings the
    /// read model's per-member event lists in line with it (see `[sync]
    /// clubos_events_poll`). Needs the `admin` role and `[read_model] enabled`.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn poll_club_os_events(&self, ctx: &Context<'_>) -> Result<EventPoll> {
        let w = writer(ctx)?;
        if w.read_model.is_none() {
            return Err(err(read_model_off()));
        }
        let cfg = ctx.data::<SyncConfig>()?;
        let poll = clubos_events::poll(w, cfg).boxed();
        Ok(poll.await.map_err(err)?.into())
    }

    /// Reads every GHL contact and Club OS user not yet backfilled into the read model,
    /// resuming where an earlier run stopped; kinds already done are skipped (a second
    /// run reads nothing). Needs the `admin` role and `[read_model] enabled`.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn backfill(&self, ctx: &Context<'_>) -> Result<Backfill> {
        let r = ctx.data::<Loaders>()?.readers().clone();
        let Some(model) = &r.read_model else {
            return Err(err(read_model_off()));
        };
        let page = ctx.data::<SyncConfig>()?.clubos_page_size;
        let run = backfill::run(&r.ghl, &r.clubos, model, page).boxed();
        Ok(run.await.map_err(err)?.into())
    }

    /// Compares every GHL contact and Club OS user with the read model's copy, repairs
    /// what differs (missing, extra, differing records) and returns the drift reports it
    /// stored (see `driftReports`). Needs the `admin` role and `[read_model] enabled`.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn reconcile(&self, ctx: &Context<'_>) -> Result<Vec<Drift>> {
        let r = ctx.data::<Loaders>()?.readers().clone();
        let Some(model) = &r.read_model else {
            return Err(err(read_model_off()));
        };
        let page = ctx.data::<SyncConfig>()?.clubos_page_size;
        let run = reconcile::run(&r, model, page).boxed();
        run.await.map_err(err)?;
        let stored = model
            .store()
            .drift_reports(2)
            .await
            .map_err(|e| err(store_err(e)))?;
        Ok(stored.into_iter().rev().map(Drift::from).collect())
    }
}
