//! Read-through caches, one per kind of upstream record, shared by every request.
//!
//! Each kind has a TTL and a bound in bytes (entries are weighed by their JSON size when
//! stored). An entry older than its TTL is stale: loaders refetch it, but when the
//! upstream fails they may still serve it for up to `stale_if_error_secs` more, and the
//! response says so. Writes and webhooks call the `invalidate_*` methods.

use std::{
    fmt::Debug,
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use moka::{future::Cache, notification::RemovalCause};
use serde::{Deserialize, Serialize};
use tokio::{task::JoinHandle, time::Instant};

use crate::response_cache::{ResponseCache, ResponseCacheConfig, tags_of};
use crate::store::{Change, Link, RecordKind, Store, StoreError};
use crate::upstream::{
    clubos::{ClubOsEvent, ClubOsLocation, ClubOsUser},
    ghl::models::{GhlAppointment, GhlContact, GhlNote, GhlTask, SearchResponse},
};

/// Settings of one kind of entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    /// How long an entry is fresh.
    pub ttl_secs: u64,
    /// Bound on the entries' total JSON size.
    pub max_bytes: u64,
}

/// `[cache]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How long past its TTL an entry may still be served while its upstream fails.
    pub stale_if_error_secs: u64,
    /// GHL contacts, by id.
    pub contacts: KindConfig,
    /// Club OS users, by id.
    pub members: KindConfig,
    /// Tasks, notes and appointments, by owner.
    pub activity: KindConfig,
    /// Who matches an email or phone, and stored links.
    pub lookups: KindConfig,
    /// Whole answers to queries (see [`crate::response_cache`]).
    pub responses: ResponseCacheConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        let mib = 1024 * 1024;
        Self {
            stale_if_error_secs: 3600,
            contacts: KindConfig {
                ttl_secs: 300,
                max_bytes: 64 * mib,
            },
            members: KindConfig {
                ttl_secs: 300,
                max_bytes: 64 * mib,
            },
            activity: KindConfig {
                ttl_secs: 120,
                max_bytes: 64 * mib,
            },
            lookups: KindConfig {
                ttl_secs: 300,
                max_bytes: 16 * mib,
            },
            responses: ResponseCacheConfig::default(),
        }
    }
}

/// Hits, misses, stale answers and evictions of one kind.
#[derive(Debug, Default)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale_served: AtomicU64,
    pub evictions: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub stale_served: u64,
    pub evictions: u64,
}

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    stored_at: Instant,
    weight: u32,
}

/// How long `value` is as JSON, counted without building the text: an entry's weight.
fn json_len(value: &impl Serialize) -> Option<usize> {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.0)
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<V> {
    /// Within its TTL.
    Fresh(V),
    /// Past its TTL but within the stale window: refetch, and fall back on it on error.
    Stale(V),
    /// Nothing usable.
    Missing,
}

/// One kind of cached record.
#[derive(Debug)]
pub struct EntityCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    name: &'static str,
    inner: Cache<K, Entry<V>>,
    ttl: Duration,
    keeps_nothing: bool,
    counters: Arc<Counters>,
}

impl<K, V> EntityCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + Debug + 'static,
    V: Clone + Send + Sync + Serialize + 'static,
{
    fn new(name: &'static str, cfg: KindConfig, stale: Duration) -> Self {
        let counters = Arc::new(Counters::default());
        let listener_counters = counters.clone();
        let ttl = Duration::from_secs(cfg.ttl_secs);
        let inner = Cache::builder()
            .max_capacity(cfg.max_bytes)
            .weigher(|_: &K, e: &Entry<V>| e.weight)
            .time_to_live(ttl + stale)
            .eviction_listener(move |_, _, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    listener_counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            name,
            inner,
            ttl,
            keeps_nothing: (ttl + stale).is_zero(),
            counters,
        }
    }

    /// The kind's name, as the response's `extensions` report stale entries.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Looks `key` up, counting a hit or a miss.
    pub async fn lookup(&self, key: &K) -> Lookup<V> {
        let found = self.peek(key).await;
        if !matches!(found, Lookup::Fresh(_)) {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Like [`EntityCache::lookup`], but a fresh entry counts as a hit and anything
    /// else is not counted (the loader that then fetches counts the miss).
    pub async fn peek(&self, key: &K) -> Lookup<V> {
        if self.keeps_nothing {
            return Lookup::Missing;
        }
        match self.inner.get(key).await {
            Some(e) if e.stored_at.elapsed() < self.ttl => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Fresh(e.value)
            }
            Some(e) => Lookup::Stale(e.value),
            None => Lookup::Missing,
        }
    }

    /// Stores a fresh value; nothing when entries live for no time at all (a kind whose
    /// TTL and stale window are both 0 is not cached).
    pub async fn insert(&self, key: K, value: V) {
        if self.keeps_nothing {
            return;
        }
        let weight =
            json_len(&value).map_or(u32::MAX, |n| u32::try_from(n + 64).unwrap_or(u32::MAX));
        self.inner
            .insert(
                key,
                Entry {
                    value,
                    stored_at: Instant::now(),
                    weight,
                },
            )
            .await;
    }

    /// Counts an answer served from a stale entry.
    pub fn served_stale(&self) {
        self.counters.stale_served.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one entry.
    pub async fn invalidate(&self, key: &K) {
        self.inner.invalidate(key).await;
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    /// The counters so far.
    pub fn counters(&self) -> CounterSnapshot {
        let c = &self.counters;
        CounterSnapshot {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            stale_served: c.stale_served.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
        }
    }
}

/// A normalised email or E.164 phone, as lookups key them.
pub type MatchKey = String;

/// The lookup key of an email.
pub fn email_key(email: &str) -> MatchKey {
    format!("email:{}", email.trim().to_lowercase())
}

/// The lookup key of an E.164 phone.
pub fn phone_key(e164: &str) -> MatchKey {
    format!("phone:{e164}")
}

/// Every cache of the gateway.
#[derive(Debug)]
pub struct Caches {
    /// GHL contact searches, by their JSON body.
    pub ghl_searches: EntityCache<String, SearchResponse>,
    /// Pages of Club OS users in id order.
    pub clubos_user_pages: EntityCache<u32, Vec<ClubOsUser>>,
    pub ghl_contacts: EntityCache<String, Option<GhlContact>>,
    pub clubos_users: EntityCache<i64, Option<ClubOsUser>>,
    pub ghl_tasks: EntityCache<String, Vec<GhlTask>>,
    pub ghl_notes: EntityCache<String, Vec<GhlNote>>,
    pub ghl_appointments: EntityCache<String, Vec<GhlAppointment>>,
    pub clubos_events: EntityCache<i64, Vec<ClubOsEvent>>,
    /// Every Club OS location, as one listing returns them (one entry).
    pub clubos_locations: EntityCache<(), Vec<ClubOsLocation>>,
    /// GHL contact ids by email or phone.
    pub ghl_by_match: EntityCache<MatchKey, Vec<GhlContact>>,
    /// GHL contacts whose link custom field names a Club OS user.
    pub ghl_by_link_field: EntityCache<i64, Vec<GhlContact>>,
    /// Club OS users by email or phone.
    pub clubos_by_match: EntityCache<MatchKey, Vec<ClubOsUser>>,
    /// Stored links, by GHL contact id.
    pub links_by_ghl: EntityCache<String, Option<Link>>,
    /// Stored links, by Club OS user id.
    pub links_by_clubos: EntityCache<i64, Option<String>>,
    /// Whole answers to queries, kept while the change log says nothing they read changed.
    pub responses: Arc<ResponseCache>,
}

impl Caches {
    pub fn new(cfg: &CacheConfig) -> Self {
        let stale = Duration::from_secs(cfg.stale_if_error_secs);
        Self {
            ghl_searches: EntityCache::new("ghlSearch", cfg.lookups, stale),
            clubos_user_pages: EntityCache::new("clubOsUserPage", cfg.lookups, stale),
            ghl_contacts: EntityCache::new("ghlContact", cfg.contacts, stale),
            clubos_users: EntityCache::new("clubOsUser", cfg.members, stale),
            ghl_tasks: EntityCache::new("ghlTasks", cfg.activity, stale),
            ghl_notes: EntityCache::new("ghlNotes", cfg.activity, stale),
            ghl_appointments: EntityCache::new("ghlAppointments", cfg.activity, stale),
            clubos_events: EntityCache::new("clubOsEvents", cfg.activity, stale),
            clubos_locations: EntityCache::new("clubOsLocations", cfg.lookups, stale),
            ghl_by_match: EntityCache::new("ghlMatch", cfg.lookups, stale),
            ghl_by_link_field: EntityCache::new("ghlLinkField", cfg.lookups, stale),
            clubos_by_match: EntityCache::new("clubOsMatch", cfg.lookups, stale),
            links_by_ghl: EntityCache::new("linkByGhl", cfg.lookups, stale),
            links_by_clubos: EntityCache::new("linkByClubOs", cfg.lookups, stale),
            responses: Arc::new(ResponseCache::new(&cfg.responses)),
        }
    }

    /// Forgets every entry of every kind, kept answers too: the next read of anything is
    /// cold (the read model, when on, still answers below).
    pub fn invalidate_everything(&self) {
        self.forget_entities();
        self.responses.invalidate_all();
    }

    /// Forgets every copy of an upstream record, lookup and link (not the kept answers).
    pub fn forget_entities(&self) {
        self.ghl_searches.invalidate_all();
        self.clubos_user_pages.invalidate_all();
        self.ghl_contacts.invalidate_all();
        self.clubos_users.invalidate_all();
        self.ghl_tasks.invalidate_all();
        self.ghl_notes.invalidate_all();
        self.ghl_appointments.invalidate_all();
        self.clubos_events.invalidate_all();
        self.clubos_locations.invalidate_all();
        self.ghl_by_match.invalidate_all();
        self.ghl_by_link_field.invalidate_all();
        self.clubos_by_match.invalidate_all();
        self.links_by_ghl.invalidate_all();
        self.links_by_clubos.invalidate_all();
    }

    /// Forgets a GHL contact and everything hanging off it.
    pub async fn invalidate_ghl_contact(&self, id: &str) {
        let key = id.to_owned();
        self.ghl_contacts.invalidate(&key).await;
        self.ghl_tasks.invalidate(&key).await;
        self.ghl_notes.invalidate(&key).await;
        self.ghl_appointments.invalidate(&key).await;
        self.links_by_ghl.invalidate(&key).await;
        // Which contact matches an email, a phone, a link field or a search may have
        // changed too.
        self.ghl_searches.invalidate_all();
        self.ghl_by_match.invalidate_all();
        self.ghl_by_link_field.invalidate_all();
    }

    /// Forgets a GHL contact's tasks; every contact's when the owner is unknown.
    pub async fn invalidate_ghl_tasks(&self, contact_id: Option<&str>) {
        forget(&self.ghl_tasks, contact_id).await;
    }

    /// Forgets a GHL contact's notes; every contact's when the owner is unknown.
    pub async fn invalidate_ghl_notes(&self, contact_id: Option<&str>) {
        forget(&self.ghl_notes, contact_id).await;
    }

    /// Forgets a GHL contact's appointments; every contact's when the owner is unknown.
    pub async fn invalidate_ghl_appointments(&self, contact_id: Option<&str>) {
        forget(&self.ghl_appointments, contact_id).await;
    }

    /// Forgets a Club OS user and everything hanging off them.
    pub async fn invalidate_clubos_user(&self, id: i64) {
        self.clubos_users.invalidate(&id).await;
        self.clubos_events.invalidate(&id).await;
        self.links_by_clubos.invalidate(&id).await;
        self.clubos_by_match.invalidate_all();
        self.clubos_user_pages.invalidate_all();
    }

    /// Forgets what a change of the change log touched, so that nothing read after it is
    /// answered from a copy older than the change. A collection's record that moved to
    /// another owner is logged for both owners (see `Store::put_records`).
    pub async fn forget_change(&self, change: &Change) {
        let ghl = change.ghl_contact_id.as_deref();
        match &change.record {
            Some((RecordKind::GhlContact, id)) => self.invalidate_ghl_contact(id).await,
            Some((RecordKind::ClubOsUser, id)) => match id.parse() {
                Ok(id) => self.invalidate_clubos_user(id).await,
                Err(_) => self.clubos_users.invalidate_all(),
            },
            Some((RecordKind::GhlTask, _)) => self.invalidate_ghl_tasks(ghl).await,
            Some((RecordKind::GhlNote, _)) => self.invalidate_ghl_notes(ghl).await,
            Some((RecordKind::GhlAppointment, _)) => self.invalidate_ghl_appointments(ghl).await,
            Some((RecordKind::ClubOsEvent, _)) => match change.clubos_user_id {
                Some(user) => self.clubos_events.invalidate(&user).await,
                None => self.clubos_events.invalidate_all(),
            },
            Some((RecordKind::ClubOsLocation, _)) => self.clubos_locations.invalidate_all(),
            None => {
                if let Some(ghl) = ghl {
                    self.links_by_ghl.invalidate(&ghl.to_owned()).await;
                }
                if let Some(user) = change.clubos_user_id {
                    self.links_by_clubos.invalidate(&user).await;
                }
            }
        }
    }

    /// Counters of every kind, by name.
    pub fn counters(&self) -> Vec<(&'static str, CounterSnapshot)> {
        vec![
            (self.ghl_searches.name(), self.ghl_searches.counters()),
            (
                self.clubos_user_pages.name(),
                self.clubos_user_pages.counters(),
            ),
            (self.ghl_contacts.name(), self.ghl_contacts.counters()),
            (self.clubos_users.name(), self.clubos_users.counters()),
            (self.ghl_tasks.name(), self.ghl_tasks.counters()),
            (self.ghl_notes.name(), self.ghl_notes.counters()),
            (
                self.ghl_appointments.name(),
                self.ghl_appointments.counters(),
            ),
            (self.clubos_events.name(), self.clubos_events.counters()),
            (
                self.clubos_locations.name(),
                self.clubos_locations.counters(),
            ),
            (self.ghl_by_match.name(), self.ghl_by_match.counters()),
            (
                self.ghl_by_link_field.name(),
                self.ghl_by_link_field.counters(),
            ),
            (self.clubos_by_match.name(), self.clubos_by_match.counters()),
            (self.links_by_ghl.name(), self.links_by_ghl.counters()),
            (self.links_by_clubos.name(), self.links_by_clubos.counters()),
        ]
    }
}

/// Drops one contact's entry, or every entry when the contact is unknown.
async fn forget<V>(cache: &EntityCache<String, V>, contact_id: Option<&str>)
where
    V: Clone + Send + Sync + Serialize + 'static,
{
    match contact_id {
        Some(id) => cache.invalidate(&id.to_owned()).await,
        None => cache.invalidate_all(),
    }
}

impl Caches {
    /// The counters in Prometheus' text format, for `GET /metrics`.
    pub fn prometheus(&self) -> String {
        let counters = self.counters();
        let mut out = String::new();
        type Series = (&'static str, &'static str, fn(&CounterSnapshot) -> u64);
        let series: [Series; 4] = [
            ("hits", "Cache lookups answered fresh.", |c| c.hits),
            ("misses", "Cache lookups that had to go upstream.", |c| {
                c.misses
            }),
            (
                "stale_served",
                "Answers served past their TTL because the upstream failed.",
                |c| c.stale_served,
            ),
            ("evictions", "Entries evicted for size or age.", |c| {
                c.evictions
            }),
        ];
        for (name, help, get) in series {
            out.push_str(&format!(
                "# HELP contactgraph_cache_{name}_total {help}\n# TYPE contactgraph_cache_{name}_total counter\n"
            ));
            for (kind, c) in &counters {
                out.push_str(&format!(
                    "contactgraph_cache_{name}_total{{kind=\"{kind}\"}} {}\n",
                    get(c)
                ));
            }
        }
        out
    }
}

/// How often the follower reads the log without being woken (for what another process
/// wrote to the same store).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// Changes read per query of the log.
const FOLLOW_PAGE: i64 = 500;

impl Caches {
    /// Follows the change log from its head now, and for each change forgets the copies
    /// of what it touched, then drops the kept answers that read it; activates the
    /// response cache (it keeps nothing until the follower runs). Stops with the runtime.
    pub async fn follow(self: Arc<Self>, store: Store) -> Result<JoinHandle<()>, StoreError> {
        let caches = self;
        let cache = caches.responses.clone();
        let mut applied = store.last_change_seq().await?;
        let mut commits = store.log_commits();
        cache.activate(*commits.borrow_and_update());
        Ok(tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = commits.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(FOLLOW_EVERY) => {}
                }
                // The count is read before the log, so every commit it counts is in the log.
                let seen = *commits.borrow_and_update();
                loop {
                    match store.changes_after(applied, FOLLOW_PAGE).await {
                        Ok(changes) => {
                            let last_page = changes.len() < FOLLOW_PAGE as usize;
                            for change in &changes {
                                caches.forget_change(change).await;
                                cache.invalidate(tags_of(change));
                                applied = change.seq;
                            }
                            if last_page {
                                cache.applied(seen);
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "response cache: the change log is unreadable; dropping every answer");
                            cache.invalidate_all();
                            break;
                        }
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(ttl: u64, stale: u64, max_bytes: u64) -> EntityCache<String, String> {
        EntityCache::new(
            "test",
            KindConfig {
                ttl_secs: ttl,
                max_bytes,
            },
            Duration::from_secs(stale),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn entries_go_stale_after_their_ttl() {
        let c = cache(10, 100, 1 << 20);
        c.insert("k".into(), "v".into()).await;
        assert_eq!(c.lookup(&"k".into()).await, Lookup::Fresh("v".into()));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(c.lookup(&"k".into()).await, Lookup::Stale("v".into()));
        assert_eq!(c.lookup(&"x".into()).await, Lookup::Missing);
        let n = c.counters();
        assert_eq!((n.hits, n.misses), (1, 2));
    }

    #[tokio::test]
    async fn a_kind_that_keeps_nothing_stores_nothing() {
        let c = cache(0, 0, 1 << 20);
        c.insert("k".into(), "v".into()).await;
        c.inner.run_pending_tasks().await;
        assert_eq!(c.inner.entry_count(), 0);
        assert_eq!(c.lookup(&"k".into()).await, Lookup::Missing);
    }

    #[test]
    fn an_entry_weighs_its_json_length() {
        assert_eq!(json_len(&"ab\"c"), Some(7));
        assert_eq!(json_len(&serde_json::json!({"a": [1, 2]})), Some(11));
    }

    #[tokio::test]
    async fn the_byte_bound_evicts() {
        let c = cache(60, 60, 2_000);
        for i in 0..100 {
            c.insert(format!("k{i}"), "x".repeat(100)).await;
        }
        c.inner.run_pending_tasks().await;
        assert!(c.inner.weighted_size() <= 2_000);
        assert!(c.counters().evictions > 0);
    }

    #[tokio::test]
    async fn invalidation_forgets() {
        let c = cache(60, 60, 1 << 20);
        c.insert("k".into(), "v".into()).await;
        c.invalidate(&"k".into()).await;
        assert_eq!(c.lookup(&"k".into()).await, Lookup::Missing);
    }
}
