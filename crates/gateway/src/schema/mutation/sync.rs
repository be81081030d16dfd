//! The sync engine run on demand.

use async_graphql::{Context, Object, Result, SimpleObject};
use futures_util::FutureExt;

use super::{err, writer};
use crate::{
    auth::Role,
    loaders::Loaders,
    schema::RoleGuard,
    sync::{SyncConfig, clubos},
};

/// What one Club OS poll did.
#[derive(Debug, Clone, SimpleObject)]
pub struct ClubOsPoll {
    /// Users Club OS reported changed since the last poll.
    pub seen: u64,
    /// Linked users whose GHL contact was written (`[sync] propagate`).
    pub propagated: u64,
    /// Linked users whose GHL contact already agreed.
    pub unchanged: u64,
    /// Users with no stored link.
    pub unlinked: u64,
    /// Users whose GHL write failed (the relay retries it).
    pub failed: u64,
    /// Where the next poll starts (ISO-8601).
    pub cursor: String,
}

impl From<clubos::PollReport> for ClubOsPoll {
    fn from(r: clubos::PollReport) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            seen: n(r.seen),
            propagated: n(r.propagated),
            unchanged: n(r.unchanged),
            unlinked: n(r.unlinked),
            failed: n(r.failed),
            cursor: r.cursor,
        }
    }
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
    async fn poll_club_os(&self, ctx: &Context<'_>) -> Result<ClubOsPoll> {
        let region = ctx.data::<Loaders>()?.readers().phone_region;
        let cfg = ctx.data::<SyncConfig>()?.clone();
        // Boxed: the poll's future is deep, and the schema's own is deep enough.
        let poll = clubos::poll(writer(ctx)?.clone(), cfg, region).boxed();
        Ok(poll.await.map_err(err)?.into())
    }
}
