//! The Club OS events poll: Club OS offers no updated-since filter for events (and no
//! webhooks), so the gateway reads every event that starts within a window around now
//! (`sync.events_days_back` before, `sync.events_days_ahead` after), all members at once,
//! and brings the read model's per-member event lists in line with it: inside the window
//! a member's list becomes what Club OS lists, outside it stays as stored. An event
//! booked, moved or cancelled at Club OS within the window so reaches the gateway within
//! one poll interval, for the cost of the window's pages rather than a call per member.
//!
//! The event search without `userId` over `startTimeStart`/`startTimeEnd` is *inferred*
//! (see [`crate::upstream::clubos::EventSearch`]). An event belongs to its owner and to
//! each attendee, as the per-member search (`userId` matches both) lists it.
//!
//! Only lists the read model holds and may serve are brought in line: a member whose
//! events were never read, or were read too long ago, is read through on their next
//! read, whole. Needs the read model.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use tokio::task::JoinHandle;

use super::SyncConfig;
use crate::{
    clock::iso_ms,
    error::{GatewayError, System},
    read_model::Record,
    store::{ReadSource, RecordKind},
    upstream::clubos::{ClubOsEvent, EventSearch, SortDir},
    writes::{self, Writer},
};

/// The poll's name in the store's cursors.
pub const SOURCE: &str = "clubos_events";

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Members whose stored lists one store read brings back.
const OWNERS_PER_READ: usize = 200;

/// What one events poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPollReport {
    /// Events Club OS lists in the window.
    pub seen: usize,
    /// Members whose stored event lists the window touched (brought in line).
    pub members: usize,
    /// Stored events new, changed or removed.
    pub changed: usize,
    /// When this poll read the window (ISO-8601).
    pub cursor: String,
}

/// Polls at once and then every `sync.interval_minutes`, for as long as the task lives.
pub fn spawn(w: Arc<Writer>, cfg: SyncConfig) -> JoinHandle<()> {
    let every = Duration::from_secs(cfg.interval_minutes * 60);
    tokio::spawn(async move {
        loop {
            if let Err(e) = poll(&w, &cfg).await {
                tracing::warn!(
                    code = e.code.as_str(),
                    "Club OS events poll failed; next try at the next turn"
                );
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Runs one poll; its time is the stored cursor once it finished, and a failure is
/// recorded on the cursor.
pub async fn poll(w: &Writer, cfg: &SyncConfig) -> Result<EventPollReport, GatewayError> {
    match run(w, cfg).await {
        Ok(report) => {
            w.store
                .advance_sync_cursor(SOURCE, &report.cursor)
                .await
                .map_err(writes::store_err)?;
            Ok(report)
        }
        Err(e) => {
            let _ = w.store.sync_failed(SOURCE, e.code.as_str()).await;
            Err(e)
        }
    }
}

async fn run(w: &Writer, cfg: &SyncConfig) -> Result<EventPollReport, GatewayError> {
    let Some(model) = &w.read_model else {
        return Err(GatewayError::new(
            crate::error::ErrorCode::BadUserInput,
            "the Club OS events poll keeps the read model's copies: turn on [read_model] enabled",
        ));
    };
    let now = w.clock.now_ms();
    let from = now.saturating_sub(i64::from(cfg.events_days_back).saturating_mul(DAY_MS));
    let until = now.saturating_add(i64::from(cfg.events_days_ahead).saturating_mul(DAY_MS));
    let mut report = EventPollReport {
        cursor: iso_ms(now),
        ..EventPollReport::default()
    };
    let listed = window(w, cfg, from, until, &mut report).await?;
    let stored = model
        .store()
        .owners_starting_within(RecordKind::ClubOsEvent, from, until)
        .await
        .map_err(writes::store_err)?;
    let owners: Vec<String> = listed
        .keys()
        .cloned()
        .chain(stored)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let inside = |e: &ClubOsEvent| e.starts_ms().is_some_and(|t| (from..until).contains(&t));
    for chunk in owners.chunks(OWNERS_PER_READ) {
        let held = model
            .sets::<ClubOsEvent>(chunk)
            .await
            .map_err(writes::store_err)?;
        for (owner, set) in held {
            let mut events: Vec<ClubOsEvent> =
                set.value.into_iter().filter(|e| !inside(e)).collect();
            events.extend(listed.get(&owner).into_iter().flatten().cloned());
            events.sort_by_key(|e| (e.starts_ms(), e.event_id));
            let changed = model
                .put_set(&owner, &events, ReadSource::ClubOsPoll)
                .await
                .map_err(writes::store_err)?;
            report.members += 1;
            report.changed += changed;
            if changed > 0
                && let Ok(id) = owner.parse::<i64>()
            {
                w.caches.clubos_events.invalidate(&id).await;
            }
        }
    }
    Ok(report)
}

/// Every event Club OS lists starting in `[from, until)`, by each member it belongs to.
async fn window(
    w: &Writer,
    cfg: &SyncConfig,
    from: i64,
    until: i64,
    report: &mut EventPollReport,
) -> Result<HashMap<String, Vec<ClubOsEvent>>, GatewayError> {
    let mut search = EventSearch {
        start_time_start: Some(iso_ms(from)),
        start_time_end: Some(iso_ms(until)),
        size: cfg.clubos_page_size,
        sort_on: Some("startTime".into()),
        sort_dir: Some(SortDir::Asc),
        ..EventSearch::default()
    };
    let mut by_owner: HashMap<String, Vec<ClubOsEvent>> = HashMap::new();
    loop {
        let page = w
            .clubos
            .search_events(&search)
            .await
            .map_err(|e| GatewayError::upstream(System::ClubOs, &e))?;
        for event in &page.content {
            report.seen += 1;
            let members: BTreeSet<i64> = std::iter::once(event.event_owner_id)
                .chain(event.attendee.iter().map(|a| a.attendee_id))
                .collect();
            for member in members {
                by_owner
                    .entry(member.to_string())
                    .or_default()
                    .push(event.clone());
            }
        }
        if page.content.is_empty() || u64::from(search.page) + 1 >= page.total_pages {
            return Ok(by_owner);
        }
        search.page += 1;
    }
}
