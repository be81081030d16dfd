//! Per-request DataLoaders, one per upstream resource, reading through the shared caches.
//!
//! Within one GraphQL request every key is fetched at most once (each loader keeps what
//! it loaded). Batch-capable endpoints are called once per batch: GHL's contact search
//! with an OR group (many emails, phones or link values at once) and the location task
//! search (the tasks of many contacts). One-key-per-call endpoints (notes, appointments,
//! Club OS users and events) run concurrently, under each client's in-flight cap.
//!
//! With the read model on, what moka lacks is read from the store first (one batched
//! query per loader batch), and only what the store cannot serve goes to the upstream;
//! what an upstream answers is stored (see [`crate::read_model`]).
//!
//! A failed fetch becomes that key's error, so only the fields that needed it fail. When
//! the cache still holds a stale copy and the upstream is unavailable or rate limited,
//! the stale copy is served and the request's [`RequestMeta`] records it.

use std::{
    collections::{BTreeSet, HashMap},
    convert::Infallible,
    fmt::Debug,
    hash::Hash,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

mod fetch;
mod mirror;
mod tags;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use crate::cache::{email_key, phone_key};
pub use fetch::CLUBOS_PAGE;
use fetch::*;
use mirror::Mirror;

use crate::{
    cache::{Caches, EntityCache, Lookup, MatchKey},
    error::{ErrorCode, GatewayError},
    read_model::ReadModel,
    response_cache::Tag,
    store::{Link, ReadSource, RecordKind, Store},
    upstream::{
        clubos::{ClubOsClient, ClubOsEvent, ClubOsLocation, ClubOsUser},
        ghl::models::{
            GhlAppointment, GhlContact, GhlNote, GhlTask, SearchRequest, SearchResponse,
        },
        ghl::{GhlClient, LinkField},
    },
};

/// `[loaders]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// How long a loader gathers keys before it fetches them from an upstream, in
    /// microseconds (batches read from the store do not wait).
    pub batch_delay_us: u64,
    /// One-key-per-call fetches (notes, appointments, Club OS users) run at once per batch.
    pub fanout: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_delay_us: 200,
            fanout: 16,
        }
    }
}

/// One key's outcome.
pub type Fetched<V> = Result<V, GatewayError>;

/// What reads go through, built once and shared by every request's loaders: the
/// upstream clients, the caches, the stored links and the settings of reading.
#[derive(Debug, Clone)]
pub struct Readers {
    pub ghl: GhlClient,
    pub clubos: ClubOsClient,
    pub caches: Arc<Caches>,
    pub store: Store,
    pub link_field: LinkField,
    /// Region for phone numbers written without a country code.
    pub phone_region: phonenumber::country::Id,
    /// One-key-per-call fetches a loader runs at once.
    pub fanout: usize,
    /// How long a loader waits to gather keys into one batch for an upstream.
    pub batch_delay: Duration,
    /// The store's copy of the upstream records, when reads are served from it.
    pub read_model: Option<ReadModel>,
}

impl Readers {
    /// The id of the link custom field (see [`LinkField::id`]), as a read's error.
    pub async fn link_field_id(&self) -> Result<Option<&str>, GatewayError> {
        self.link_field.id().await.map_err(ghl_err)
    }
}

/// What one request learned while it ran: which kinds it served from stale cache entries,
/// and how much came from the read model and how much was read through.
#[derive(Debug, Default)]
pub struct RequestMeta {
    stale: Mutex<BTreeSet<&'static str>>,
    /// Skip the read model's copies (still storing what the upstreams answer).
    read_through: bool,
    /// Ask the upstreams (through moka) who holds an email, a phone or a link-field
    /// value, never the read model: a write resolves its person this way.
    upstream_lookups: bool,
    from_read_model: AtomicU64,
    read_through_count: AtomicU64,
    oldest_synced_ms: Mutex<Option<i64>>,
    /// When the read model stored the records this request was served from it, so that
    /// `syncedAt` asks the store only about the others.
    synced: Mutex<HashMap<(RecordKind, String), i64>>,
    /// How the read model learns what this request reads from the upstreams (a read
    /// through, unless a change source re-reads).
    via: Option<ReadSource>,
    /// What the request read, for the response cache; `None` when it is not noted.
    tags: Option<Mutex<Vec<Tag>>>,
}

impl RequestMeta {
    /// A request that reads every record from its upstream, past the read model: for a
    /// caller who must see the upstream now (`fresh: true`).
    pub fn reading_through() -> Self {
        Self {
            read_through: true,
            ..Self::default()
        }
    }

    /// A change source re-reading what it was told changed: every record from its
    /// upstream, stored as learned `via` that source.
    pub fn rereading_for(via: ReadSource) -> Self {
        Self {
            via: Some(via),
            ..Self::reading_through()
        }
    }

    /// How the read model is told it learned what this request reads upstream.
    fn stores_as(&self) -> ReadSource {
        self.via.unwrap_or(ReadSource::ReadThrough)
    }

    /// Loading for a write: records may come from the read model, but who holds an
    /// email, a phone or a link-field value is asked of the upstreams, so that a record
    /// created a moment ago and not yet stored still counts (a household member the
    /// store does not know yet must make the person ambiguous, never a unique match).
    pub fn for_writes() -> Self {
        Self {
            upstream_lookups: true,
            ..Self::default()
        }
    }

    /// Notes what the request reads, so that its answer can be kept in the response
    /// cache (see [`RequestMeta::tags`]).
    pub fn noting_reads(self) -> Self {
        Self {
            tags: Some(Mutex::new(Vec::new())),
            ..self
        }
    }

    /// Notes that the request read what `tags` name (when it notes reads).
    pub fn read(&self, tags: impl FnOnce(&mut Vec<Tag>)) {
        if let Some(t) = &self.tags {
            tags(&mut t.lock().expect("meta lock"));
        }
    }

    /// Everything the request read, without repeats, when it noted reads.
    pub fn tags(&self) -> Option<Vec<Tag>> {
        let mut tags = self.tags.as_ref()?.lock().expect("meta lock").clone();
        let mut seen = std::collections::HashSet::with_capacity(tags.len());
        tags.retain(|t| seen.insert(t.clone()));
        Some(tags)
    }

    /// Whether the answer is what the read model and caches held: nothing read through
    /// to an upstream, nothing served stale.
    pub fn served_as_held(&self) -> bool {
        !self.read_through
            && self.read_through_count.load(Ordering::Relaxed) == 0
            && self.stale.lock().expect("meta lock").is_empty()
    }

    /// Whether this request reads past the read model (see [`RequestMeta::reading_through`]).
    pub fn reads_through(&self) -> bool {
        self.read_through
    }

    fn served_from_read_model(&self, count: usize, oldest_synced_ms: i64) {
        if count == 0 {
            return;
        }
        self.from_read_model
            .fetch_add(count as u64, Ordering::Relaxed);
        let mut oldest = self.oldest_synced_ms.lock().expect("meta lock");
        *oldest = Some(oldest.map_or(oldest_synced_ms, |o| o.min(oldest_synced_ms)));
    }

    /// Records when the read model stored a record this request was served.
    pub fn served_synced(&self, record: (RecordKind, String), synced_at_ms: i64) {
        self.synced
            .lock()
            .expect("meta lock")
            .insert(record, synced_at_ms);
    }

    fn synced_of(&self, record: &(RecordKind, String)) -> Option<i64> {
        self.synced.lock().expect("meta lock").get(record).copied()
    }

    fn read_through_upstream(&self, count: usize) {
        self.read_through_count
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    fn served_stale(&self, kind: &'static str) {
        self.stale.lock().expect("meta lock").insert(kind);
    }

    /// Kinds answered from stale entries, for the response's `extensions`.
    pub fn stale_kinds(&self) -> Vec<&'static str> {
        self.stale
            .lock()
            .expect("meta lock")
            .iter()
            .copied()
            .collect()
    }
}

type FetchFn<K, V> = fn(Arc<Readers>, Vec<K>) -> BoxFuture<'static, HashMap<K, Fetched<V>>>;

/// What reading a key (and its value) tells the response cache the answer depends on.
type TagFn<K, V> = fn(&K, Option<&V>, &mut Vec<Tag>);

/// A loader that reads through one cache and fetches what is missing.
pub struct CachedLoader<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    readers: Arc<Readers>,
    meta: Arc<RequestMeta>,
    cache: fn(&Caches) -> &EntityCache<K, V>,
    fetch: FetchFn<K, V>,
    mirror: Option<Mirror<K, V>>,
    tag: TagFn<K, V>,
}

impl<K, V> CachedLoader<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Notes for the response cache that the request read `key` (its value, when it
    /// has one).
    fn note(&self, key: &K, value: Option<&V>) {
        self.meta.read(|tags| (self.tag)(key, value, tags));
    }

    /// Whether this request's batches are answered from the read model first.
    fn serves_stored(&self) -> bool {
        self.readers.read_model.is_some()
            && self.mirror.as_ref().is_some_and(|m| {
                !(self.meta.read_through || m.lookup && self.meta.upstream_lookups)
            })
    }
}

fn may_serve_stale(e: &GatewayError) -> bool {
    matches!(
        e.code,
        ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamRateLimited
    )
}

impl<K, V> Loader<K> for CachedLoader<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + Debug + 'static,
    V: Clone + Send + Sync + Serialize + 'static,
{
    type Value = Fetched<V>;
    type Error = Infallible;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, Fetched<V>>, Infallible> {
        let out = self.load_keys(keys).await;
        for (key, value) in &out {
            self.note(key, value.as_ref().ok());
        }
        Ok(out)
    }
}

impl<K, V> CachedLoader<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + Debug + 'static,
    V: Clone + Send + Sync + Serialize + 'static,
{
    /// Answers `keys` from the cache, then the read model, then the upstream.
    async fn load_keys(&self, keys: &[K]) -> HashMap<K, Fetched<V>> {
        let cache = (self.cache)(&self.readers.caches);
        let mut out = HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        let mut stale = HashMap::new();
        for key in keys {
            match cache.lookup(key).await {
                Lookup::Fresh(_) if self.meta.read_through => missing.push(key.clone()),
                Lookup::Fresh(v) => {
                    out.insert(key.clone(), Ok(v));
                }
                Lookup::Stale(v) => {
                    stale.insert(key.clone(), v);
                    missing.push(key.clone());
                }
                Lookup::Missing => missing.push(key.clone()),
            }
        }
        if missing.is_empty() {
            return out;
        }
        let mirror = self.mirror.as_ref();
        if let Some(m) = mirror.filter(|_| self.serves_stored()) {
            let stored = (m.read)(self.readers.clone(), missing.clone()).await;
            let oldest = stored.values().map(|(_, at)| *at).min().unwrap_or_default();
            self.meta.served_from_read_model(stored.len(), oldest);
            if let Some(record) = m.record {
                for (key, (_, at)) in &stored {
                    self.meta.served_synced(record(key), *at);
                }
            }
            for (key, (v, _)) in stored {
                cache.insert(key.clone(), v.clone()).await;
                stale.remove(&key);
                out.insert(key, Ok(v));
            }
            missing.retain(|k| !out.contains_key(k));
            if missing.is_empty() {
                return out;
            }
        }
        let mut fetched = (self.fetch)(self.readers.clone(), missing.clone()).await;
        if let (Some(m), Some(rm)) = (mirror, &self.readers.read_model) {
            let answered: Vec<(K, V)> = fetched
                .iter()
                .filter_map(|(k, v)| v.as_ref().ok().map(|v| (k.clone(), v.clone())))
                .collect();
            self.meta.read_through_upstream(answered.len());
            if let Some(record) = m.record {
                let now = crate::store::now_ms();
                for (key, _) in &answered {
                    self.meta.served_synced(record(key), now);
                }
            }
            rm.store_behind((m.write)(
                self.readers.clone(),
                answered,
                self.meta.stores_as(),
            ));
        }
        for key in missing {
            let result = fetched
                .remove(&key)
                .unwrap_or_else(|| Err(GatewayError::new(ErrorCode::NotFound, "no such record")));
            let result = match result {
                Ok(v) => {
                    cache.insert(key.clone(), v.clone()).await;
                    Ok(v)
                }
                Err(e) => match stale.remove(&key) {
                    Some(v) if may_serve_stale(&e) => {
                        cache.served_stale();
                        self.meta.served_stale(cache.name());
                        Ok(v)
                    }
                    _ => Err(e),
                },
            };
            out.insert(key, result);
        }
        out
    }
}

/// When the read model last stored records, by kind and id: for `syncedAt` fields,
/// batched per request into one store query per kind.
pub struct SyncedLoader {
    readers: Arc<Readers>,
}

impl Loader<(RecordKind, String)> for SyncedLoader {
    type Value = i64;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[(RecordKind, String)],
    ) -> Result<HashMap<(RecordKind, String), i64>, Infallible> {
        let Some(rm) = &self.readers.read_model else {
            return Ok(HashMap::new());
        };
        rm.settled().await;
        let mut by_kind: HashMap<RecordKind, Vec<String>> = HashMap::new();
        for (kind, id) in keys {
            by_kind.entry(*kind).or_default().push(id.clone());
        }
        let mut out = HashMap::new();
        for (kind, ids) in by_kind {
            match rm.store().synced_at(kind, &ids).await {
                Ok(found) => out.extend(found.into_iter().map(|(id, at)| ((kind, id), at))),
                Err(e) => tracing::warn!(error = %e, "read model unavailable for syncedAt"),
            }
        }
        Ok(out)
    }
}

/// A per-request loader over a [`CachedLoader`].
pub type Cached<K, V> = DataLoader<CachedLoader<K, V>, HashMapCache>;

/// Every loader of one request.
pub struct Loaders {
    readers: Arc<Readers>,
    pub meta: Arc<RequestMeta>,
    /// GHL contact searches, by their JSON body.
    ghl_search: Cached<String, SearchResponse>,
    /// Pages of Club OS users in id order ([`CLUBOS_PAGE`] per page), by page number.
    pub clubos_user_page: Cached<u32, Vec<ClubOsUser>>,
    pub ghl_contact: Cached<String, Option<GhlContact>>,
    pub clubos_user: Cached<i64, Option<ClubOsUser>>,
    pub ghl_tasks: Cached<String, Vec<GhlTask>>,
    pub ghl_notes: Cached<String, Vec<GhlNote>>,
    pub ghl_appointments: Cached<String, Vec<GhlAppointment>>,
    pub clubos_events: Cached<i64, Vec<ClubOsEvent>>,
    /// Every Club OS location, under the one key `()`.
    pub clubos_locations: Cached<(), Vec<ClubOsLocation>>,
    /// GHL contacts by `email:<lowercase>`.
    pub ghl_by_email: Cached<MatchKey, Vec<GhlContact>>,
    /// GHL contacts by `phone:<E.164>`.
    pub ghl_by_phone: Cached<MatchKey, Vec<GhlContact>>,
    /// GHL contacts whose link custom field holds a Club OS user id.
    pub ghl_by_link_field: Cached<i64, Vec<GhlContact>>,
    /// Club OS users by `email:<lowercase>`.
    pub clubos_by_email: Cached<MatchKey, Vec<ClubOsUser>>,
    /// Club OS users by `phone:<E.164>`.
    pub clubos_by_phone: Cached<MatchKey, Vec<ClubOsUser>>,
    /// Stored links by GHL contact id.
    pub link_by_ghl: Cached<String, Option<Link>>,
    /// Stored links by Club OS user id.
    pub link_by_clubos: Cached<i64, Option<String>>,
    synced: DataLoader<SyncedLoader, HashMapCache>,
}

impl Loaders {
    /// A fresh set for one request.
    pub fn new(readers: Arc<Readers>, meta: Arc<RequestMeta>) -> Self {
        let delay = readers.batch_delay;
        let ctx = (&readers, &meta, delay);
        // Stored links are read from the store, but without the read model linking then
        // asks the upstreams: links answered at once would spread those lookups over more
        // batches than the page needs.
        let links_delay = if readers.read_model.is_some() {
            Duration::ZERO
        } else {
            delay
        };
        Self {
            ghl_search: make(
                ctx,
                |c| &c.ghl_searches,
                fetch_ghl_search,
                None,
                tags::any_ghl_contact,
            ),
            clubos_user_page: make(
                ctx,
                |c| &c.clubos_user_pages,
                fetch_clubos_user_page,
                None,
                tags::any_clubos_user,
            ),
            ghl_contact: make(
                ctx,
                |c| &c.ghl_contacts,
                fetch_ghl_contacts,
                Some(mirror::records()),
                tags::ghl_contact,
            ),
            clubos_user: make(
                ctx,
                |c| &c.clubos_users,
                fetch_clubos_users,
                Some(mirror::records()),
                tags::clubos_user,
            ),
            ghl_tasks: make(
                ctx,
                |c| &c.ghl_tasks,
                fetch_ghl_tasks,
                Some(mirror::sets()),
                tags::ghl_tasks,
            ),
            ghl_notes: make(
                ctx,
                |c| &c.ghl_notes,
                fetch_ghl_notes,
                Some(mirror::sets()),
                tags::ghl_notes,
            ),
            ghl_appointments: make(
                ctx,
                |c| &c.ghl_appointments,
                fetch_ghl_appointments,
                Some(mirror::sets()),
                tags::ghl_appointments,
            ),
            clubos_events: make(
                ctx,
                |c| &c.clubos_events,
                fetch_clubos_events,
                Some(mirror::sets()),
                tags::clubos_user,
            ),
            clubos_locations: make(
                ctx,
                |c| &c.clubos_locations,
                fetch_clubos_locations,
                Some(mirror::locations()),
                tags::locations,
            ),
            ghl_by_email: make(
                ctx,
                |c| &c.ghl_by_match,
                fetch_ghl_by_email,
                Some(mirror::matches()),
                tags::any_ghl_contact,
            ),
            ghl_by_phone: make(
                ctx,
                |c| &c.ghl_by_match,
                fetch_ghl_by_phone,
                Some(mirror::matches()),
                tags::any_ghl_contact,
            ),
            ghl_by_link_field: make(
                ctx,
                |c| &c.ghl_by_link_field,
                fetch_ghl_by_link_field,
                Some(mirror::link_field_matches()),
                tags::any_ghl_contact,
            ),
            clubos_by_email: make(
                ctx,
                |c| &c.clubos_by_match,
                fetch_clubos_by_email,
                Some(mirror::matches()),
                tags::any_clubos_user,
            ),
            clubos_by_phone: make(
                ctx,
                |c| &c.clubos_by_match,
                fetch_clubos_by_phone,
                Some(mirror::matches()),
                tags::any_clubos_user,
            ),
            link_by_ghl: make(
                (&readers, &meta, links_delay),
                |c| &c.links_by_ghl,
                fetch_links_by_ghl,
                None,
                tags::ghl_contact,
            ),
            link_by_clubos: make(
                (&readers, &meta, links_delay),
                |c| &c.links_by_clubos,
                fetch_links_by_clubos,
                None,
                tags::clubos_user,
            ),
            synced: DataLoader::with_cache(
                SyncedLoader {
                    readers: readers.clone(),
                },
                tokio::spawn,
                HashMapCache::default(),
            )
            .delay(Duration::ZERO),
            meta,
            readers,
        }
    }

    /// When the read model last stored a record (epoch milliseconds), if it holds it.
    pub async fn synced_at(&self, record: (RecordKind, String)) -> Option<i64> {
        self.readers.read_model.as_ref()?;
        if let Some(at) = self.meta.synced_of(&record) {
            return Some(at);
        }
        match self.synced.load_one(record).await {
            Ok(at) => at,
            Err(never) => match never {},
        }
    }

    /// What the loaders read through.
    pub fn readers(&self) -> &Arc<Readers> {
        &self.readers
    }

    /// A new set for resolving whom a write writes to (see [`RequestMeta::for_writes`]).
    pub fn for_writes(&self) -> Self {
        Self::new(self.readers.clone(), Arc::new(RequestMeta::for_writes()))
    }

    /// A new set over the same readers, with nothing loaded yet: a read after a write,
    /// past what this request loaded before it.
    pub fn fresh(&self) -> Self {
        Self::new(self.readers.clone(), Arc::new(RequestMeta::default()))
    }

    /// Runs a GHL contact search once per request, through the cache.
    pub async fn ghl_search(&self, req: &SearchRequest) -> Fetched<SearchResponse> {
        let key = serde_json::to_string(req)
            .map_err(|_| GatewayError::new(ErrorCode::BadUserInput, "unsearchable request"))?;
        one(&self.ghl_search, key).await
    }
}

/// A loader that waits `delay` to gather keys before an upstream fetch, and not at all
/// when its batches are read from the store: a store query per pass over the request's
/// resolvers costs less than the wait. Keys asked for in one pass share a batch either
/// way, since the batch starts only once the request yields.
fn make<K, V>(
    (readers, meta, delay): (&Arc<Readers>, &Arc<RequestMeta>, Duration),
    cache: fn(&Caches) -> &EntityCache<K, V>,
    fetch: FetchFn<K, V>,
    mirror: Option<Mirror<K, V>>,
    tag: TagFn<K, V>,
) -> Cached<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + Debug + 'static,
    V: Clone + Send + Sync + Serialize + 'static,
{
    let loader = CachedLoader {
        readers: readers.clone(),
        meta: meta.clone(),
        cache,
        fetch,
        mirror,
        tag,
    };
    let delay = if loader.serves_stored() {
        Duration::ZERO
    } else {
        delay
    };
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default()).delay(delay)
}

/// Loads one key; a key the loader dropped reads as not found. A fresh cache entry is
/// answered at once: only keys that need fetching wait for their batch to fill.
pub async fn one<K, V>(loader: &Cached<K, V>, key: K) -> Fetched<V>
where
    K: Hash + Eq + Send + Sync + Clone + Debug + 'static,
    V: Clone + Send + Sync + Serialize + 'static,
{
    let inner = loader.loader();
    if !inner.meta.read_through
        && let Lookup::Fresh(v) = (inner.cache)(&inner.readers.caches).peek(&key).await
    {
        inner.note(&key, Some(&v));
        return Ok(v);
    }
    match loader.load_one(key).await {
        Ok(Some(v)) => v,
        Ok(None) => Err(GatewayError::new(ErrorCode::NotFound, "no such record")),
        Err(never) => match never {},
    }
}

/// Loads the keys that have no fresh cache entry, in one batch; keys already fresh cost
/// nothing (no batch wait, no fetch).
pub async fn warm<K, V>(loader: &Cached<K, V>, keys: impl IntoIterator<Item = K>)
where
    K: Hash + Eq + Send + Sync + Clone + Debug + 'static,
    V: Clone + Send + Sync + Serialize + 'static,
{
    let inner = loader.loader();
    let cache = (inner.cache)(&inner.readers.caches);
    let mut missing = Vec::new();
    for k in keys {
        if inner.meta.read_through || !matches!(cache.peek(&k).await, Lookup::Fresh(_)) {
            missing.push(k);
        }
    }
    if !missing.is_empty() {
        let _ = loader.load_many(missing).await;
    }
}

/// What [`RequestMeta`] adds to the response's `extensions`: `cache` when kinds were
/// served from stale cache entries; `freshness` (with the read model on) when records
/// came from it or were read through: how many of each, and the oldest sync time served.
pub fn extensions(meta: &RequestMeta) -> Vec<(&'static str, serde_json::Value)> {
    let mut out = Vec::new();
    let stale = meta.stale_kinds();
    if !stale.is_empty() {
        out.push(("cache", json!({"stale": true, "staleKinds": stale})));
    }
    let served = meta.from_read_model.load(Ordering::Relaxed);
    let through = meta.read_through_count.load(Ordering::Relaxed);
    if served > 0 || through > 0 || meta.read_through {
        let oldest = *meta.oldest_synced_ms.lock().expect("meta lock");
        out.push((
            "freshness",
            json!({
                "fromReadModel": served,
                "readThrough": through,
                "oldestSyncedAt": oldest.map(crate::clock::iso_ms),
            }),
        ));
    }
    out
}
