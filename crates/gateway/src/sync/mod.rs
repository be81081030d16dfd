//! The sync engine: work the gateway does on its own, beside the requests it serves: the
//! link sweep ([`links`]), which stores the links linking's rules confirm and queues the
//! rest as suggestions; the Club OS poll ([`clubos`]), which carries Club OS changes to
//! GHL; the Club OS events poll ([`clubos_events`]), which keeps the read model's
//! events fresh over a window around now; GHL's webhooks ([`ghl`]) and the GHL poll ([`ghl_poll`], for when webhooks are
//! missed or not configured), which carry GHL changes to Club OS, all per the field
//! mapping ([`mapping`]); and the backfill ([`backfill`]) of the read model.

pub mod backfill;
pub mod clubos;
pub mod clubos_events;
pub mod ghl;
pub mod ghl_poll;
pub mod links;
pub mod mapping;
pub mod metrics;
pub mod reconcile;

use std::{future::Future, time::Duration};

use serde::{Deserialize, Serialize};

use mapping::{Facts, FieldMap, Recency};

use crate::{
    clock::iso_ms,
    error::{GatewayError, System},
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
    writes::{self, Writer},
};

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Records the source reported changed.
    pub seen: usize,
    /// Of those, linked records whose partner in the other system was written.
    pub propagated: usize,
    /// Linked records whose partner already agreed.
    pub unchanged: usize,
    /// Records with no stored link (nothing to carry them to).
    pub unlinked: usize,
    /// Records with no partner in the other system, one made for them and linked
    /// (`create_in_ghl`).
    pub created: usize,
    /// Records whose write failed (recorded in the outbox for the relay).
    pub failed: usize,
    /// Where the next poll starts (ISO-8601).
    pub cursor: String,
}

/// Whether the ISO-8601 instant `a` is after `b` (unreadable instants are not).
fn later(a: &str, b: &str) -> bool {
    let at = |v: &str| chrono::DateTime::parse_from_rfc3339(v).ok();
    matches!((at(a), at(b)), (Some(a), Some(b)) if a > b)
}

/// One turn of a polling source: the first only records where polling starts (history
/// is the backfill's and the link sweep's); later ones `run` from the stored cursor,
/// which moves only once the run finished (a run cut short is done again: values are
/// compared, not events). `polled` is told of each finished turn; a failure is recorded
/// on the cursor.
async fn turn<'a, F, Fut>(
    w: &Writer,
    source: &str,
    polled: impl Fn(),
    run: F,
) -> Result<PollReport, GatewayError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<PollReport, GatewayError>> + 'a,
{
    let stored = w
        .store
        .sync_cursor(source)
        .await
        .map_err(writes::store_err)?;
    let Some(since) = stored.map(|c| c.position).filter(|p| !p.is_empty()) else {
        let start = iso_ms(w.clock.now_ms());
        w.store
            .advance_sync_cursor(source, &start)
            .await
            .map_err(writes::store_err)?;
        polled();
        return Ok(PollReport {
            cursor: start,
            ..PollReport::default()
        });
    };
    match run(since).await {
        Ok(report) => {
            w.store
                .advance_sync_cursor(source, &report.cursor)
                .await
                .map_err(writes::store_err)?;
            polled();
            Ok(report)
        }
        Err(e) => {
            let _ = w.store.sync_failed(source, e.code.as_str()).await;
            Err(e)
        }
    }
}

/// How many poll intervals may pass without a successful poll before the source counts
/// as stalled (readiness fails).
pub const STALL_INTERVALS: u64 = 3;

/// Whether a scheduled source that polls `every` is stalled at `now_ms`: its last success
/// (or, before the first, the gateway's start) lies more than [`STALL_INTERVALS`]
/// intervals back.
pub fn stalled(
    now_ms: i64,
    started_ms: i64,
    last_success_ms: Option<i64>,
    every: Duration,
) -> bool {
    let limit = i64::try_from(
        every
            .as_millis()
            .saturating_mul(u128::from(STALL_INTERVALS)),
    )
    .unwrap_or(i64::MAX);
    now_ms.saturating_sub(last_success_ms.unwrap_or(started_ms)) > limit
}

/// Which record of a linked pair a person changed last, leaving out the gateway's own
/// writes (see [`crate::writes::own`]).
pub fn recency(w: &Writer, user: &ClubOsUser, contact: &GhlContact) -> Recency {
    let clubos = user
        .updated_date
        .as_deref()
        .filter(|_| !w.own_writes.is_own_user(user));
    let ghl = contact
        .date_updated
        .as_deref()
        .filter(|_| !w.own_writes.is_own_contact(contact));
    Recency::of(clubos, ghl)
}

/// The Club OS facts propagation needs beyond a user (see [`Facts`]), each read only
/// when its rule propagates: the clubs' names (Club OS's location list) and the join
/// date field's id (the location's custom fields).
pub async fn facts(w: &Writer, cfg: &SyncConfig) -> Result<Facts, GatewayError> {
    let mut facts = Facts::default();
    if cfg.fields.home_club.propagate {
        let clubs = w
            .clubos
            .list_locations()
            .await
            .map_err(|e| GatewayError::upstream(System::ClubOs, &e))?;
        facts.clubs = clubs
            .content
            .into_iter()
            .map(|l| (l.location_id, l.name))
            .collect();
    }
    if cfg.fields.join_date.propagate {
        let name = cfg.join_date_field.as_str();
        let fields = w
            .ghl
            .custom_fields()
            .await
            .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
        facts.join_date_field = fields
            .into_iter()
            .find(|f| f.id == name || f.field_key == name)
            .map(|f| f.id);
    }
    Ok(facts)
}

/// `[sync]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Run the link sweep once at start and then every `interval_minutes`. Off by default:
    /// each link it confirms is also written to GHL's link custom field (a write to GHL),
    /// so an operator turns it on knowingly. `syncLinks` runs one sweep on demand either
    /// way.
    pub links: bool,
    /// Poll Club OS for users changed since the last poll, every `interval_minutes`:
    /// what changed is dropped from the caches (Club OS sends no webhooks) and, with
    /// `propagate`, carried to the linked GHL contact.
    pub clubos_poll: bool,
    /// Poll GHL for contacts changed since the last poll (`dateUpdated`), every
    /// `interval_minutes`: the safety net for missed webhooks, and the change source
    /// when none are configured. What changed is dropped from the caches, stored in the
    /// read model and, with `propagate`, carried to the linked Club OS user.
    pub ghl_poll: bool,
    /// Poll Club OS every `interval_minutes` for the events that start within
    /// `events_days_back` days before now and `events_days_ahead` after (Club OS has no
    /// updated-since filter for events), and bring the read model's per-member lists in
    /// line: bookings, moves and cancellations in the window reach the gateway within one
    /// interval. Needs `[read_model] enabled`.
    pub clubos_events_poll: bool,
    /// Days before now the events poll's window starts, 0 to 90.
    pub events_days_back: u32,
    /// Days after now the events poll's window ends, 1 to 365.
    pub events_days_ahead: u32,
    /// Carry Club OS changes to GHL per `[sync.fields]`, through the outbox, on every poll
    /// (scheduled, or `pollClubOs`). Off by default: `syncPlan` shows what it would write
    /// first.
    pub propagate: bool,
    /// On a Club OS poll, make a GHL contact (names, email, phone, birth date and the
    /// Club OS facts, as `fields` propagate them) for a user the poll sees with no stored
    /// link when no GHL contact holds their email, any of their phones or their id in the
    /// link field (one contact search), and link the two. Off by default. A user someone in GHL
    /// may already be (a household member sharing an email) is left to the link sweep
    /// and its suggestions, never created twice.
    pub create_in_ghl: bool,
    /// The reverse: on a GHL webhook or GHL poll, make a Club OS prospect (names, email,
    /// phone, birth date, as `fields` propagate them) for a contact with no stored link
    /// when its link field names nobody and no Club OS user holds its email or phone,
    /// and link the two. Off by default (every new lead in GHL would become a Club OS
    /// prospect).
    pub create_in_clubos: bool,
    /// Minutes between two sweeps, and between two polls, 1 to 15.
    pub interval_minutes: u64,
    /// Users per Club OS page a poll reads.
    pub clubos_page_size: u32,
    /// The GHL custom field (id or key) that holds a member's Club OS join date
    /// (`[sync.fields] join_date`).
    pub join_date_field: String,
    /// Each field's authority and whether it propagates.
    pub fields: FieldMap,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            links: false,
            clubos_poll: false,
            ghl_poll: false,
            clubos_events_poll: false,
            events_days_back: 1,
            events_days_ahead: 30,
            propagate: false,
            create_in_ghl: false,
            create_in_clubos: false,
            interval_minutes: 5,
            clubos_page_size: 200,
            join_date_field: "contact.clubos_join_date".into(),
            fields: FieldMap::default(),
        }
    }
}

impl SyncConfig {
    /// The one-line problem with these settings, naming the key, when there is one.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=15).contains(&self.interval_minutes) {
            return Err("key `sync.interval_minutes` must be between 1 and 15".into());
        }
        if !(1..=1000).contains(&self.clubos_page_size) {
            return Err("key `sync.clubos_page_size` must be between 1 and 1000".into());
        }
        if self.events_days_back > 90 {
            return Err("key `sync.events_days_back` must be between 0 and 90".into());
        }
        if !(1..=365).contains(&self.events_days_ahead) {
            return Err("key `sync.events_days_ahead` must be between 1 and 365".into());
        }
        if self.join_date_field.trim().is_empty() {
            return Err("key `sync.join_date_field` must not be empty".into());
        }
        self.fields.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_stalls_after_three_intervals_without_success() {
        let minute = Duration::from_secs(60);
        assert!(!stalled(180_000, 0, None, minute), "just started");
        assert!(
            stalled(180_001, 0, None, minute),
            "never succeeded since start"
        );
        assert!(!stalled(400_000, 0, Some(220_000), minute));
        assert!(stalled(400_001, 0, Some(220_000), minute));
    }
}
