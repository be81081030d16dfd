//! The synced read model, typed: which upstream records it keeps, what each is found by,
//! and when a stored copy may be served.
//!
//! Loaders read it below moka and above the upstreams (see [`crate::loaders`]): a usable
//! stored copy is served, anything else is read through once and stored. Webhooks, the
//! Club OS poll and the backfill store what they learn; writes through the gateway mark
//! what they changed stale, so it is read through before it is served again.
//!
//! A stored copy is **usable** when no write has made it stale and either its change
//! source keeps it fresh (GHL: webhooks are configured, so every change upstream is
//! announced, or the GHL poll runs and is not stalled; Club OS users: their poll runs and
//! is not stalled; Club OS events
//! or locations yet) or it is younger than `untrusted_max_age_secs`. A kind is **complete** once the backfill has read all of
//! it, its source keeps it fresh and nothing of it is stale: only then may a lookup that
//! can find nobody (who holds this email? which contacts come first?) be answered from
//! the store, since a missing row then means a missing record.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    cache::{email_key, phone_key},
    phone,
    store::{Drift, NewRecord, ReadSource, RecordKind, RecordRow, Store, StoreError},
    upstream::{
        clubos::{ClubOsEvent, ClubOsLocation, ClubOsUser},
        ghl::LinkField,
        ghl::models::{GhlAppointment, GhlContact, GhlNote, GhlTask},
    },
};

/// `[read_model]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReadModelConfig {
    /// Serve reads from the store's copy of the upstream records (off: every read goes
    /// through to the upstreams, as caches allow).
    pub enabled: bool,
    /// How old a stored copy may be when nothing keeps its kind fresh (no webhooks for
    /// GHL, no running poll for Club OS) before it is read through again.
    pub untrusted_max_age_secs: u64,
    /// Run the backfill when the gateway starts (it resumes where a stopped run left
    /// off, and reads nothing once done).
    pub backfill_on_start: bool,
    /// Hours between two scheduled reconcile runs (a full comparison with the upstreams
    /// that repairs drift); 0 runs it only on demand (`reconcile`).
    pub reconcile_hours: u64,
}

impl Default for ReadModelConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            untrusted_max_age_secs: 300,
            backfill_on_start: true,
            reconcile_hours: 24,
        }
    }
}

/// The cursor source under which the backfill of a kind records that it finished.
pub fn backfill_source(kind: RecordKind) -> String {
    format!("backfill:{}", kind.as_str())
}

/// The position of a finished backfill.
pub const BACKFILL_DONE: &str = "done";

/// Whether each system's change source keeps its records fresh: GHL when webhooks are
/// configured (GHL announces every change) or while the GHL poll runs on time; Club OS
/// while its poll runs on time. A poll is on time while its last success (or the start)
/// is at most its stall limit ago.
#[derive(Debug)]
pub struct Trust {
    ghl_webhooks: bool,
    ghl_poll: Poll,
    clubos_poll: Poll,
}

/// A scheduled poll's health.
#[derive(Debug)]
struct Poll {
    stall_after: Option<Duration>,
    started_ms: i64,
    last_ok_ms: AtomicI64,
}

impl Poll {
    fn new(stall_after: Option<Duration>) -> Self {
        Self {
            stall_after,
            started_ms: crate::store::now_ms(),
            last_ok_ms: AtomicI64::new(0),
        }
    }

    fn polled(&self) {
        self.last_ok_ms
            .store(crate::store::now_ms(), Ordering::Relaxed);
    }

    fn on_time(&self) -> bool {
        let last = match self.last_ok_ms.load(Ordering::Relaxed) {
            0 => self.started_ms,
            at => at,
        };
        self.stall_after.is_some_and(|limit| {
            let limit = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
            crate::store::now_ms().saturating_sub(last) <= limit
        })
    }
}

impl Trust {
    /// `ghl_webhooks`: webhook keys are configured; each `*_stall_after`: when that poll
    /// runs, how long without a finished poll counts as stalled.
    pub fn new(
        ghl_webhooks: bool,
        ghl_stall_after: Option<Duration>,
        clubos_stall_after: Option<Duration>,
    ) -> Self {
        Self {
            ghl_webhooks,
            ghl_poll: Poll::new(ghl_stall_after),
            clubos_poll: Poll::new(clubos_stall_after),
        }
    }

    /// Records a finished GHL poll.
    pub fn ghl_polled(&self) {
        self.ghl_poll.polled();
    }

    /// Records a finished Club OS poll.
    pub fn clubos_polled(&self) {
        self.clubos_poll.polled();
    }

    fn ghl(&self) -> bool {
        self.ghl_webhooks || self.ghl_poll.on_time()
    }

    fn clubos(&self) -> bool {
        self.clubos_poll.on_time()
    }
}

/// A record type the read model keeps.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const KIND: RecordKind;
    /// Its id in the read model.
    fn record_id(&self, owner: Option<&str>) -> String;
    /// The upstream's own updated time.
    fn upstream_updated(&self) -> Option<String> {
        None
    }
    /// Where it sorts in lists.
    fn sort_ms(&self) -> i64 {
        0
    }
    /// When it takes place, epoch milliseconds (for polls over a time window).
    fn starts_ms(&self) -> Option<i64> {
        None
    }
    /// The values it can be matched by.
    fn keys(&self, _: &KeyContext) -> Vec<String> {
        Vec::new()
    }
    /// The GHL contact and Club OS user it concerns, given its owner.
    fn concerns(&self, owner: Option<&str>) -> (Option<String>, Option<i64>);
    /// The copy to store: without what only one answer carries (a search row's cursor).
    fn stored(&self) -> Self {
        self.clone()
    }
}

/// What keys are derived with.
#[derive(Debug, Clone)]
pub struct KeyContext {
    pub region: phonenumber::country::Id,
    /// The id of GHL's link custom field, when the location has one.
    pub link_field: Option<String>,
}

/// `link:<Club OS user id>`: a contact whose link custom field names that user.
pub fn link_key(user_id: i64) -> String {
    format!("link:{user_id}")
}

fn ms_of(iso: Option<&str>) -> i64 {
    iso.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp_millis())
}

impl Record for GhlContact {
    const KIND: RecordKind = RecordKind::GhlContact;
    fn record_id(&self, _: Option<&str>) -> String {
        self.id.clone()
    }
    fn upstream_updated(&self) -> Option<String> {
        self.date_updated.clone()
    }
    fn sort_ms(&self) -> i64 {
        ms_of(self.date_added.as_deref())
    }
    fn keys(&self, k: &KeyContext) -> Vec<String> {
        let email = self
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(email_key);
        let phone = self
            .phone
            .as_deref()
            .and_then(|p| phone::to_e164(p, k.region))
            .map(|p| phone_key(&p));
        let link = k
            .link_field
            .as_deref()
            .and_then(|f| self.custom_field(f))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(link_key);
        email.into_iter().chain(phone).chain(link).collect()
    }
    fn concerns(&self, _: Option<&str>) -> (Option<String>, Option<i64>) {
        (Some(self.id.clone()), None)
    }
    /// Search rows carry a cursor and lack the `name` a read has: neither is kept, so
    /// that a contact stores the same whichever answer it came from.
    fn stored(&self) -> Self {
        Self {
            search_after: None,
            name: None,
            ..self.clone()
        }
    }
}

impl Record for ClubOsUser {
    const KIND: RecordKind = RecordKind::ClubOsUser;
    fn record_id(&self, _: Option<&str>) -> String {
        self.user_id.to_string()
    }
    fn upstream_updated(&self) -> Option<String> {
        self.updated_date.clone()
    }
    fn sort_ms(&self) -> i64 {
        -self.user_id
    }
    fn keys(&self, k: &KeyContext) -> Vec<String> {
        let email = self
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(email_key);
        let phones = self
            .phones()
            .filter_map(|p| phone::to_e164(p, k.region))
            .map(|p| phone_key(&p));
        email.into_iter().chain(phones).collect()
    }
    fn concerns(&self, _: Option<&str>) -> (Option<String>, Option<i64>) {
        (None, Some(self.user_id))
    }
}

impl Record for GhlTask {
    const KIND: RecordKind = RecordKind::GhlTask;
    fn record_id(&self, _: Option<&str>) -> String {
        self.id.clone()
    }
    fn concerns(&self, owner: Option<&str>) -> (Option<String>, Option<i64>) {
        (owner.map(str::to_owned).or(self.contact_id.clone()), None)
    }
}

impl Record for GhlNote {
    const KIND: RecordKind = RecordKind::GhlNote;
    fn record_id(&self, _: Option<&str>) -> String {
        self.id.clone()
    }
    fn concerns(&self, owner: Option<&str>) -> (Option<String>, Option<i64>) {
        (owner.map(str::to_owned).or(self.contact_id.clone()), None)
    }
}

impl Record for GhlAppointment {
    const KIND: RecordKind = RecordKind::GhlAppointment;
    fn record_id(&self, _: Option<&str>) -> String {
        self.id.clone()
    }
    fn upstream_updated(&self) -> Option<String> {
        self.date_updated.clone()
    }
    fn concerns(&self, owner: Option<&str>) -> (Option<String>, Option<i64>) {
        (owner.map(str::to_owned).or(self.contact_id.clone()), None)
    }
}

impl Record for ClubOsEvent {
    const KIND: RecordKind = RecordKind::ClubOsEvent;
    /// An event is kept once per attendee whose list it was read for, since each
    /// attendee's list is stored whole.
    fn record_id(&self, owner: Option<&str>) -> String {
        format!("{}:{}", owner.unwrap_or_default(), self.event_id)
    }
    fn starts_ms(&self) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(&self.start_time)
            .ok()
            .map(|t| t.timestamp_millis())
    }
    fn concerns(&self, owner: Option<&str>) -> (Option<String>, Option<i64>) {
        (None, owner.and_then(|o| o.parse().ok()))
    }
}

impl Record for ClubOsLocation {
    const KIND: RecordKind = RecordKind::ClubOsLocation;
    fn record_id(&self, _: Option<&str>) -> String {
        self.location_id.to_string()
    }
    fn concerns(&self, _: Option<&str>) -> (Option<String>, Option<i64>) {
        (None, None)
    }
}

/// The owner under which the club's location list is stored as one collection.
pub const LOCATIONS_OWNER: &str = "club";

/// A stored record with when it was synced.
#[derive(Debug, Clone)]
pub struct Synced<T> {
    pub value: T,
    pub synced_at_ms: i64,
}

/// How long a kind found listable or complete is taken to stay so without asking the
/// store again. Writes through this process forget it at once; the window bounds how long
/// a write by another process (a CLI run, another replica) may go unnoticed by lookups.
const COMPLETENESS_MEMO_MS: i64 = 1_000;

/// When each kind was last found listable and complete (epoch milliseconds). Only
/// positive answers are kept: a negative one sends the read upstream, which costs far
/// more than asking the store again.
/// `generation` counts what was forgotten, so that an answer the store gave before a
/// write made a record stale is not kept after it.
#[derive(Debug, Default)]
struct Completeness {
    generation: u64,
    listable: HashMap<RecordKind, i64>,
    complete: HashMap<RecordKind, i64>,
}

/// The read model over the store.
#[derive(Debug, Clone)]
pub struct ReadModel {
    store: Store,
    trust: Arc<Trust>,
    max_age_ms: i64,
    link_field: LinkField,
    region: phonenumber::country::Id,
    completeness: Arc<Mutex<Completeness>>,
    /// Per kind, how many records the upstream said it holds, as of the latest backfill
    /// page this process read.
    upstream_totals: Arc<Mutex<HashMap<RecordKind, u64>>>,
    /// How many read-through copies are still being stored (see
    /// [`ReadModel::store_behind`]).
    behind: Arc<tokio::sync::watch::Sender<usize>>,
}

impl ReadModel {
    pub fn new(
        store: Store,
        cfg: &ReadModelConfig,
        trust: Arc<Trust>,
        link_field: LinkField,
        region: phonenumber::country::Id,
    ) -> Self {
        Self {
            store,
            trust,
            max_age_ms: i64::try_from(Duration::from_secs(cfg.untrusted_max_age_secs).as_millis())
                .unwrap_or(i64::MAX),
            link_field,
            region,
            completeness: Arc::default(),
            upstream_totals: Arc::default(),
            behind: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Stores what a read read through without making the read wait for it: the store has
    /// one writer, which every loader of a read-through request would queue on. Until it
    /// has landed, reads of the read model wait for it ([`ReadModel::settled`]), so that
    /// a read after a read-through is served what it stored.
    pub fn store_behind(&self, write: impl Future<Output = ()> + Send + 'static) {
        self.behind.send_modify(|n| *n += 1);
        let behind = self.behind.clone();
        tokio::spawn(async move {
            write.await;
            behind.send_modify(|n| *n -= 1);
        });
    }

    /// Waits until every copy handed to [`ReadModel::store_behind`] has been stored.
    pub async fn settled(&self) {
        let mut pending = self.behind.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Records how many records of `kind` the upstream holds, as a backfill page said.
    pub fn upstream_total_seen(&self, kind: RecordKind, total: u64) {
        self.upstream_totals
            .lock()
            .expect("upstream totals lock")
            .insert(kind, total);
    }

    /// How many records of `kind` the upstream holds, as of the latest backfill page this
    /// process read; `None` before one.
    pub fn upstream_total(&self, kind: RecordKind) -> Option<u64> {
        self.upstream_totals
            .lock()
            .expect("upstream totals lock")
            .get(&kind)
            .copied()
    }

    /// The store it keeps its rows in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What keeps each system's records fresh.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Whether a change source keeps `kind` fresh. Club OS events and locations have none
    /// that covers them whole (the events poll reads a time window only), so they are
    /// always revalidated by age.
    fn trusted(&self, kind: RecordKind) -> bool {
        match kind {
            RecordKind::ClubOsEvent | RecordKind::ClubOsLocation => false,
            RecordKind::ClubOsUser => self.trust.clubos(),
            _ => self.trust.ghl(),
        }
    }

    fn usable(&self, kind: RecordKind, synced_at_ms: i64, stale: bool, now_ms: i64) -> bool {
        !stale && (self.trusted(kind) || now_ms.saturating_sub(synced_at_ms) <= self.max_age_ms)
    }

    /// Whether lookups that can find nobody may be answered from the store for `kind`
    /// (see the module's documentation).
    pub async fn complete(&self, kind: RecordKind) -> Result<bool, StoreError> {
        if !self.trusted(kind) {
            return Ok(false);
        }
        let Some(generation) = self.remembered(kind, |c| &c.complete) else {
            return Ok(true);
        };
        let complete = self.listable(kind).await? && !self.store.has_stale_records(kind).await?;
        if complete {
            self.remember(kind, generation, |c| &mut c.complete);
        }
        Ok(complete)
    }

    /// `None` when `kind` was found so lately; else the generation to remember a new
    /// answer under.
    fn remembered(
        &self,
        kind: RecordKind,
        of: fn(&Completeness) -> &HashMap<RecordKind, i64>,
    ) -> Option<u64> {
        let memo = self.completeness.lock().expect("completeness lock");
        let fresh = of(&memo)
            .get(&kind)
            .is_some_and(|at| crate::store::now_ms().saturating_sub(*at) < COMPLETENESS_MEMO_MS);
        (!fresh).then_some(memo.generation)
    }

    fn remember(
        &self,
        kind: RecordKind,
        generation: u64,
        of: fn(&mut Completeness) -> &mut HashMap<RecordKind, i64>,
    ) {
        let mut memo = self.completeness.lock().expect("completeness lock");
        if memo.generation == generation {
            of(&mut memo).insert(kind, crate::store::now_ms());
        }
    }

    /// Forgets that `kind` was complete, once a write through this process has made a
    /// record of it stale.
    fn forget_complete(&self, kind: RecordKind) {
        let mut memo = self.completeness.lock().expect("completeness lock");
        memo.generation += 1;
        memo.complete.remove(&kind);
    }

    /// Whether the store holds every record of `kind` (backfilled, and kept fresh since),
    /// though some may wait to be read again after a write: enough to list them, reading
    /// the stale ones through.
    pub async fn listable(&self, kind: RecordKind) -> Result<bool, StoreError> {
        if !self.trusted(kind) {
            return Ok(false);
        }
        let Some(generation) = self.remembered(kind, |c| &c.listable) else {
            return Ok(true);
        };
        let listable = self
            .store
            .sync_cursor(&backfill_source(kind))
            .await?
            .is_some_and(|c| c.position == BACKFILL_DONE);
        if listable {
            self.remember(kind, generation, |c| &mut c.listable);
        }
        Ok(listable)
    }

    /// The usable stored records of these ids.
    pub async fn get<T: Record>(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Synced<T>>, StoreError> {
        self.settled().await;
        let rows = self.store.records(T::KIND, ids).await?;
        Ok(self.decode(rows))
    }

    fn decode<T: Record>(&self, rows: Vec<RecordRow>) -> HashMap<String, Synced<T>> {
        let now = crate::store::now_ms();
        rows.into_iter()
            .filter(|r| self.usable(T::KIND, r.synced_at_ms, r.stale, now))
            .filter_map(|r| {
                let value = serde_json::from_str(&r.body).ok()?;
                Some((
                    r.id,
                    Synced {
                        value,
                        synced_at_ms: r.synced_at_ms,
                    },
                ))
            })
            .collect()
    }

    /// The usable collections of these owners, in the order the upstream gave them, each
    /// with the oldest sync time of what it holds (its own when empty).
    pub async fn sets<T: Record>(
        &self,
        owners: &[String],
    ) -> Result<HashMap<String, Synced<Vec<T>>>, StoreError> {
        self.settled().await;
        let now = crate::store::now_ms();
        // Both at once: the records of a set that turns out unusable are read for nothing,
        // which costs less than a second round trip for every page.
        let (sets, mut rows) = futures_util::try_join!(
            self.store.record_sets(T::KIND, owners),
            self.store.records_by_owner(T::KIND, owners)
        )?;
        let known: Vec<(String, i64)> = sets
            .into_iter()
            .filter(|s| self.usable(T::KIND, s.synced_at_ms, s.stale, now))
            .map(|s| (s.owner, s.synced_at_ms))
            .collect();
        if known.is_empty() {
            return Ok(HashMap::new());
        }
        let mut out: HashMap<String, Synced<Vec<T>>> = known
            .into_iter()
            .map(|(o, at)| {
                (
                    o,
                    Synced {
                        value: Vec::new(),
                        synced_at_ms: at,
                    },
                )
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.sort_ms));
        for row in rows {
            let Some(owner) = row.owner.as_deref() else {
                continue;
            };
            let Some(set) = out.get_mut(owner) else {
                continue;
            };
            if row.stale {
                out.remove(owner);
                continue;
            }
            if let Ok(v) = serde_json::from_str(&row.body) {
                set.value.push(v);
                set.synced_at_ms = set.synced_at_ms.min(row.synced_at_ms);
            }
        }
        Ok(out)
    }

    /// Who holds each key, when `T`'s kind is complete; `None` otherwise (ask the
    /// upstream).
    pub async fn matching<T: Record>(
        &self,
        keys: &[String],
    ) -> Result<Option<HashMap<String, Vec<Synced<T>>>>, StoreError> {
        if !self.complete(T::KIND).await? {
            return Ok(None);
        }
        self.settled().await;
        let mut out: HashMap<String, Vec<Synced<T>>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        let mut rows = self.store.records_by_key(T::KIND, keys).await?;
        rows.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        for (key, row) in rows {
            if let (Some(list), Ok(value)) = (out.get_mut(&key), serde_json::from_str(&row.body)) {
                list.push(Synced {
                    value,
                    synced_at_ms: row.synced_at_ms,
                });
            }
        }
        Ok(Some(out))
    }

    fn new_record<T: Record>(
        &self,
        r: &T,
        owner: Option<&str>,
        sort_ms: Option<i64>,
        keys: &KeyContext,
    ) -> NewRecord {
        let stored = r.stored();
        let (ghl_contact_id, clubos_user_id) = stored.concerns(owner);
        NewRecord {
            id: stored.record_id(owner),
            owner: owner.map(str::to_owned),
            body: serde_json::to_value(&stored).unwrap_or_default(),
            upstream_updated: stored.upstream_updated(),
            sort_ms: sort_ms.unwrap_or_else(|| stored.sort_ms()),
            starts_ms: stored.starts_ms(),
            keys: stored.keys(keys),
            ghl_contact_id,
            clubos_user_id,
        }
    }

    /// Stores records learned via `source`. GHL contacts need the link field's id (for
    /// their `link:` keys): while it cannot be resolved they are not stored.
    pub async fn put<T: Record>(
        &self,
        records: &[T],
        source: ReadSource,
    ) -> Result<usize, StoreError> {
        let Some(keys) = self.keys_for(T::KIND).await else {
            return Ok(0);
        };
        let rows: Vec<NewRecord> = records
            .iter()
            .map(|r| self.new_record(r, None, None, &keys))
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        self.store.put_records(T::KIND, &rows, source).await
    }

    /// Stores the whole collection of `owner`, keeping the upstream's order.
    pub async fn put_set<T: Record>(
        &self,
        owner: &str,
        records: &[T],
        source: ReadSource,
    ) -> Result<usize, StoreError> {
        let Some(keys) = self.keys_for(T::KIND).await else {
            return Ok(0);
        };
        let rows: Vec<NewRecord> = (0_i64..)
            .zip(records)
            .map(|(i, r)| self.new_record(r, Some(owner), Some(-i), &keys))
            .collect();
        self.store
            .put_record_set(T::KIND, owner, &rows, source)
            .await
    }

    async fn keys_for(&self, kind: RecordKind) -> Option<KeyContext> {
        let link_field = match kind {
            RecordKind::GhlContact => self.link_field.id().await.ok()?.map(str::to_owned),
            _ => None,
        };
        Some(KeyContext {
            region: self.region,
            link_field,
        })
    }

    /// Compares every stored record of `T`'s kind with `upstream` (all of it) and repairs
    /// the store: records it lacked or held differently are stored, records the upstream
    /// no longer has are removed (tombstones). Returns what differed.
    pub async fn reconcile<T: Record>(&self, upstream: &[T]) -> Result<Drift, StoreError> {
        let stored: HashMap<String, serde_json::Value> = self
            .store
            .all_records(T::KIND)
            .await?
            .into_iter()
            .map(|r| {
                let body = serde_json::from_str(&r.body).unwrap_or_default();
                (r.id, body)
            })
            .collect();
        let mut drift = Drift {
            compared: i64::try_from(upstream.len()).unwrap_or(i64::MAX),
            ..Drift::default()
        };
        let mut repair = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for record in upstream {
            let id = record.record_id(None);
            let body = serde_json::to_value(record.stored()).unwrap_or_default();
            match stored.get(&id) {
                None => drift.missing.push(id.clone()),
                Some(held) if *held != body => drift.differing.push(id.clone()),
                Some(_) => {}
            }
            if !stored.get(&id).is_some_and(|held| *held == body) {
                repair.push(record.clone());
            }
            seen.insert(id);
        }
        drift.extra = stored.into_keys().filter(|id| !seen.contains(id)).collect();
        for list in [&mut drift.missing, &mut drift.extra, &mut drift.differing] {
            list.sort();
        }
        self.put(&repair, ReadSource::Reconcile).await?;
        for id in &drift.extra {
            self.store
                .remove_record(T::KIND, id, ReadSource::Reconcile)
                .await?;
        }
        Ok(drift)
    }

    /// Removes a record the upstream no longer has (a tombstone in the change log).
    pub async fn remove(
        &self,
        kind: RecordKind,
        id: &str,
        source: ReadSource,
    ) -> Result<bool, StoreError> {
        self.store.remove_record(kind, id, source).await
    }

    /// Marks what a write through the gateway changed upstream, so it is read through
    /// before it is served again. Copies read before the write and still being stored
    /// land first: stored after the mark, they would clear it and serve the old record.
    pub async fn wrote_ghl_contact(&self, id: &str) -> Result<(), StoreError> {
        self.settled().await;
        self.store
            .mark_record_stale(RecordKind::GhlContact, id)
            .await?;
        self.forget_complete(RecordKind::GhlContact);
        for kind in [
            RecordKind::GhlTask,
            RecordKind::GhlNote,
            RecordKind::GhlAppointment,
        ] {
            self.store.mark_sets_stale(kind, Some(id)).await?;
        }
        Ok(())
    }

    /// As [`ReadModel::wrote_ghl_contact`], for a Club OS user.
    pub async fn wrote_clubos_user(&self, id: i64) -> Result<(), StoreError> {
        self.settled().await;
        self.store
            .mark_record_stale(RecordKind::ClubOsUser, &id.to_string())
            .await?;
        self.forget_complete(RecordKind::ClubOsUser);
        Ok(())
    }
}
