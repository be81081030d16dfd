//! Whole answers to queries, kept until the data they read changes.
//!
//! An entry is keyed by the document, its operation name, its variables and the caller's
//! scope (role and location binding), and tagged with everything its execution read:
//! the people (a GHL contact or a Club OS user, with their tasks, notes, appointments,
//! events and stored link), the records of their collections, and, for lists, lookups
//! and searches, the whole kind. It is dropped the moment a tag changes:
//!
//! - every change to the read model or the identity graph is appended to the change log;
//!   the store says when this process committed one, and the follower
//!   ([`crate::cache::Caches::follow`]) reads
//!   the log and, for each change, forgets the caches' copies of what it touched, then
//!   drops the answers that read it (it also reads the log once a second, for what
//!   another process wrote to the same store);
//! - a write through the gateway drops what it touched once it has forgotten the
//!   caches' copies and marked the read model stale ([`ResponseCache::invalidate`]).
//!
//! While the log holds commits the follower has not applied, lookups miss. An answer
//! whose execution overlapped an invalidation of one of its tags is not stored: each
//! request notes the invalidation count when it starts ([`ResponseCache::begin`]), and
//! the recent invalidations are kept to compare with. So no answer is served that a
//! change committed before the request could have altered.
//!
//! Only queries are kept, only when the read model is on (the change log exists), only
//! answers without errors and without reads through to an upstream, and only of the
//! root fields whose data all comes through the loaders (see [`cacheable`]); `syncedAt`
//! (which a re-sync of an unchanged record moves without a change) is never kept.
//! Entries are bounded in bytes, the oldest evicted first.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    hash::{DefaultHasher, Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet,
};
use axum::{body::Bytes, http::HeaderMap};
use serde::{Deserialize, Serialize};

use crate::store::{Change, ChangeKind, RecordKind};

/// `[cache.responses]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseCacheConfig {
    /// Keep whole answers (with the read model on; without it there is no change log to
    /// invalidate them by, and nothing is kept).
    pub enabled: bool,
    /// Bound on the kept answers' total size (bodies and keys).
    pub max_bytes: u64,
}

impl Default for ResponseCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Something an answer read, by which it is invalidated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tag {
    /// A GHL contact with its tasks, notes, appointments and stored link.
    Ghl(String),
    /// A Club OS user with their events and stored link.
    ClubOs(i64),
    /// One record of a collection (which may move to another owner).
    Record(RecordKind, String),
    /// Any GHL contact: lists, searches and lookups by email, phone or link field.
    AnyGhlContact,
    /// Any Club OS user: pages of users and lookups by email or phone.
    AnyClubOsUser,
    /// The Club OS location list.
    Locations,
}

/// What a change touches.
pub fn tags_of(change: &Change) -> Vec<Tag> {
    let mut tags = Vec::new();
    if let Some(ghl) = &change.ghl_contact_id {
        tags.push(Tag::Ghl(ghl.clone()));
    }
    if let Some(user) = change.clubos_user_id {
        tags.push(Tag::ClubOs(user));
    }
    if let Some((kind, id)) = &change.record {
        tags.push(Tag::Record(*kind, id.clone()));
        match kind {
            RecordKind::GhlContact => tags.push(Tag::AnyGhlContact),
            RecordKind::ClubOsUser => tags.push(Tag::AnyClubOsUser),
            RecordKind::ClubOsLocation => tags.push(Tag::Locations),
            _ => {}
        }
    }
    if matches!(
        change.kind,
        ChangeKind::RecordChanged | ChangeKind::RecordDeleted
    ) && change.record.is_none()
    {
        // A record change that names no record cannot be narrowed: everything goes.
        tags.extend([Tag::AnyGhlContact, Tag::AnyClubOsUser, Tag::Locations]);
    }
    tags
}

/// The root fields whose answers may be kept: their data all comes through the loaders,
/// whose reads are tagged. The rest (writes, jobs, the change log, sync state, budgets)
/// read what the change log does not cover.
const CACHEABLE_ROOTS: [&str; 7] = [
    "node",
    "contact",
    "contactByEmail",
    "contactByPhone",
    "contacts",
    "unlinkedMembers",
    "__typename",
];

/// Fields that make an answer unkeepable wherever they appear.
const UNCACHEABLE_FIELDS: [&str; 1] = ["syncedAt"];

/// Whether the operation `operation` of `doc` is a query whose answer may be kept.
pub fn cacheable(doc: &ExecutableDocument, operation: Option<&str>) -> bool {
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return false,
        },
        // A named operation is kept in the map even when it is the only one, and then
        // runs without an operation name.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => match ops.values().next() {
            Some(op) => op,
            None => return false,
        },
        (DocumentOperations::Multiple(_), None) => return false,
    };
    if op.node.ty != OperationType::Query {
        return false;
    }
    let fragments = &doc.fragments;
    roots_cacheable(&op.node.selection_set.node, fragments, 0)
        && !selects_uncacheable(&op.node.selection_set.node, 0)
        && fragments
            .values()
            .all(|f| !selects_uncacheable(&f.node.selection_set.node, 0))
}

type Fragments = HashMap<async_graphql::Name, async_graphql::Positioned<FragmentDefinition>>;

/// How deep fragment spreads are followed (the schema's validation refuses cycles; this
/// only bounds the walk).
const MAX_SPREADS: usize = 32;

fn roots_cacheable(set: &SelectionSet, fragments: &Fragments, depth: usize) -> bool {
    depth < MAX_SPREADS
        && set.items.iter().all(|item| match &item.node {
            Selection::Field(f) => CACHEABLE_ROOTS.contains(&f.node.name.node.as_str()),
            Selection::FragmentSpread(s) => fragments
                .get(&s.node.fragment_name.node)
                .is_some_and(|f| roots_cacheable(&f.node.selection_set.node, fragments, depth + 1)),
            Selection::InlineFragment(i) => {
                roots_cacheable(&i.node.selection_set.node, fragments, depth + 1)
            }
        })
}

fn selects_uncacheable(set: &SelectionSet, depth: usize) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => {
            UNCACHEABLE_FIELDS.contains(&f.node.name.node.as_str())
                || selects_uncacheable(&f.node.selection_set.node, depth)
        }
        Selection::FragmentSpread(_) => false,
        Selection::InlineFragment(i) => {
            depth >= MAX_SPREADS || selects_uncacheable(&i.node.selection_set.node, depth + 1)
        }
    })
}

/// What identifies an answer: the request and the caller's scope.
#[derive(Debug, Clone)]
pub struct Key {
    hash: u64,
    material: Arc<str>,
}

impl Key {
    /// The key of `query` (its operation `operation`) with `variables` (as JSON) for a
    /// caller of `scope`.
    pub fn new(query: &str, operation: Option<&str>, variables: &str, scope: &str) -> Self {
        let material: Arc<str> = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            scope,
            operation.unwrap_or(""),
            variables,
            query
        )
        .into();
        let mut h = DefaultHasher::new();
        material.hash(&mut h);
        Self {
            hash: h.finish(),
            material,
        }
    }
}

/// A kept answer, as it went out.
#[derive(Debug)]
pub struct Kept {
    /// The headers it was sent with.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

struct Entry {
    material: Arc<str>,
    answer: Arc<Kept>,
    tags: Vec<Tag>,
    bytes: u64,
    serial: u64,
}

/// How many recent invalidations are kept to check answers still being computed against.
const HISTORY: usize = 4096;

#[derive(Default)]
struct State {
    entries: HashMap<u64, Entry>,
    by_tag: HashMap<Tag, HashSet<u64>>,
    /// Keys in the order they were stored, with the serial of that store.
    order: VecDeque<(u64, u64)>,
    bytes: u64,
    serial: u64,
    /// Invalidations so far.
    epoch: u64,
    /// The last [`HISTORY`] invalidations: (epoch, tags).
    history: VecDeque<(u64, Vec<Tag>)>,
    /// The epoch of the newest invalidation no longer in `history`.
    forgotten: u64,
}

impl State {
    fn remove(&mut self, key: u64) -> Option<Entry> {
        let entry = self.entries.remove(&key)?;
        self.bytes -= entry.bytes;
        for tag in &entry.tags {
            if let Some(keys) = self.by_tag.get_mut(tag) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.by_tag.remove(tag);
                }
            }
        }
        Some(entry)
    }
}

/// Hits, misses and the rest, for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
    not_stored: AtomicU64,
    invalidated: AtomicU64,
    evicted: AtomicU64,
}

/// The response cache (see the module documentation).
pub struct ResponseCache {
    max_bytes: u64,
    /// Whether answers are kept: the configuration allows it and the follower runs.
    active: AtomicBool,
    /// The store's count of logged commits the follower has applied.
    applied_commits: AtomicU64,
    state: Mutex<State>,
    counters: Counters,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("max_bytes", &self.max_bytes)
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// An inactive cache bounded as `cfg` says; [`crate::cache::Caches::follow`] activates
    /// it.
    pub fn new(cfg: &ResponseCacheConfig) -> Self {
        Self {
            max_bytes: cfg.max_bytes,
            active: AtomicBool::new(false),
            applied_commits: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            counters: Counters::default(),
        }
    }

    /// Starts keeping answers, with the follower of the change log having applied the
    /// store's first `commits` logged commits.
    pub fn activate(&self, commits: u64) {
        self.applied(commits);
        self.active.store(true, Ordering::Release);
    }

    /// The follower has applied the store's first `commits` logged commits.
    pub fn applied(&self, commits: u64) {
        self.applied_commits.store(commits, Ordering::Release);
    }

    /// Whether answers are kept and looked up.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("response cache lock")
    }

    /// The kept answer for `key`, unless the store has logged commits the follower has
    /// not applied yet (`commits`: the store's count now).
    pub fn get(&self, key: &Key, commits: u64) -> Option<Arc<Kept>> {
        if !self.is_active() {
            return None;
        }
        let found = if commits == self.applied_commits.load(Ordering::Acquire) {
            let state = self.state();
            state
                .entries
                .get(&key.hash)
                .filter(|e| e.material == key.material)
                .map(|e| e.answer.clone())
        } else {
            None
        };
        let counter = if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Where invalidations stand as a request starts: pass it to [`ResponseCache::put`].
    pub fn begin(&self) -> u64 {
        self.state().epoch
    }

    /// Keeps `answer` for `key`, tagged with `tags`, unless an invalidation since `began`
    /// touched one of them (the answer may predate the change) or the answer is larger
    /// than the whole bound.
    pub fn put(&self, key: &Key, answer: Arc<Kept>, tags: Vec<Tag>, began: u64) {
        let bytes = (answer.body.len() + key.material.len()) as u64;
        let mut state = self.state();
        let overlapped = began < state.forgotten
            || state
                .history
                .iter()
                .rev()
                .take_while(|(epoch, _)| *epoch > began)
                .any(|(_, changed)| changed.iter().any(|t| tags.contains(t)));
        if overlapped || bytes > self.max_bytes {
            self.counters.not_stored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.remove(key.hash);
        state.serial += 1;
        let serial = state.serial;
        for tag in &tags {
            state
                .by_tag
                .entry(tag.clone())
                .or_default()
                .insert(key.hash);
        }
        state.entries.insert(
            key.hash,
            Entry {
                material: key.material.clone(),
                answer,
                tags,
                bytes,
                serial,
            },
        );
        state.bytes += bytes;
        state.order.push_back((key.hash, serial));
        while state.bytes > self.max_bytes {
            let Some((oldest, serial)) = state.order.pop_front() else {
                break;
            };
            if state
                .entries
                .get(&oldest)
                .is_some_and(|e| e.serial == serial)
            {
                state.remove(oldest);
                self.counters.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keys stored again leave older places in the queue behind; drop them when the
        // queue outgrows the entries.
        if state.order.len() > 2 * state.entries.len() + 64 {
            let State { order, entries, .. } = &mut *state;
            order.retain(|(k, s)| entries.get(k).is_some_and(|e| e.serial == *s));
        }
        self.counters.stored.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every answer tagged with one of `tags`, and remembers the invalidation for
    /// answers still being computed.
    pub fn invalidate(&self, tags: Vec<Tag>) {
        if tags.is_empty() {
            return;
        }
        let mut state = self.state();
        let mut gone: HashSet<u64> = HashSet::new();
        for tag in &tags {
            if let Some(keys) = state.by_tag.get(tag) {
                gone.extend(keys.iter().copied());
            }
        }
        for key in gone {
            if state.remove(key).is_some() {
                self.counters.invalidated.fetch_add(1, Ordering::Relaxed);
            }
        }
        state.epoch += 1;
        let epoch = state.epoch;
        state.history.push_back((epoch, tags));
        while state.history.len() > HISTORY {
            if let Some((e, _)) = state.history.pop_front() {
                state.forgotten = e;
            }
        }
    }

    /// Drops every answer, and keeps none whose execution began before.
    pub fn invalidate_all(&self) {
        let mut state = self.state();
        let n = state.entries.len() as u64;
        let epoch = state.epoch + 1;
        *state = State {
            epoch,
            forgotten: epoch,
            ..State::default()
        };
        self.counters.invalidated.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text format, for `GET /metrics`.
    pub fn prometheus(&self) -> String {
        let c = &self.counters;
        let (entries, bytes) = {
            let state = self.state();
            (state.entries.len(), state.bytes)
        };
        let series: [(&str, &str, u64); 6] = [
            (
                "hits",
                "Queries answered from the response cache.",
                c.hits.load(Ordering::Relaxed),
            ),
            (
                "misses",
                "Queries the response cache could not answer.",
                c.misses.load(Ordering::Relaxed),
            ),
            ("stored", "Answers kept.", c.stored.load(Ordering::Relaxed)),
            (
                "not_stored",
                "Answers not kept because a change overlapped them or they were too large.",
                c.not_stored.load(Ordering::Relaxed),
            ),
            (
                "invalidations",
                "Answers dropped because something they read changed.",
                c.invalidated.load(Ordering::Relaxed),
            ),
            (
                "evictions",
                "Answers dropped for size.",
                c.evicted.load(Ordering::Relaxed),
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in series {
            out.push_str(&format!(
                "# HELP contactgraph_response_cache_{name}_total {help}\n\
                 # TYPE contactgraph_response_cache_{name}_total counter\n\
                 contactgraph_response_cache_{name}_total {value}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP contactgraph_response_cache_entries Answers kept now.\n\
             # TYPE contactgraph_response_cache_entries gauge\n\
             contactgraph_response_cache_entries {entries}\n\
             # HELP contactgraph_response_cache_bytes Size of the answers kept now.\n\
             # TYPE contactgraph_response_cache_bytes gauge\n\
             contactgraph_response_cache_bytes {bytes}\n"
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(body: &str) -> Arc<Kept> {
        Arc::new(Kept {
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        })
    }

    fn cache(max_bytes: u64) -> ResponseCache {
        let c = ResponseCache::new(&ResponseCacheConfig {
            enabled: true,
            max_bytes,
        });
        c.active.store(true, Ordering::Release);
        c
    }

    fn key(q: &str) -> Key {
        Key::new(q, None, "{}", "read")
    }

    #[test]
    fn an_answer_is_dropped_when_a_tag_it_read_changes_and_kept_otherwise() {
        let c = cache(1 << 20);
        let (a, b) = (key("{ a }"), key("{ b }"));
        c.put(&a, kept("A"), vec![Tag::Ghl("c1".into())], c.begin());
        c.put(&b, kept("B"), vec![Tag::ClubOs(7)], c.begin());
        c.invalidate(vec![Tag::Ghl("c2".into()), Tag::AnyClubOsUser]);
        assert!(c.get(&a, 0).is_some());
        assert!(c.get(&b, 0).is_some());
        c.invalidate(vec![Tag::Ghl("c1".into())]);
        assert!(c.get(&a, 0).is_none());
        assert_eq!(c.get(&b, 0).unwrap().body, "B");
    }

    #[test]
    fn an_answer_computed_across_a_change_it_read_is_not_kept() {
        let c = cache(1 << 20);
        let k = key("{ a }");
        let began = c.begin();
        c.invalidate(vec![Tag::Ghl("c1".into())]);
        c.put(&k, kept("old"), vec![Tag::Ghl("c1".into())], began);
        assert!(c.get(&k, 0).is_none());
        // A change to something else does not stop it.
        let began = c.begin();
        c.invalidate(vec![Tag::Ghl("c9".into())]);
        c.put(&k, kept("new"), vec![Tag::Ghl("c1".into())], began);
        assert!(c.get(&k, 0).is_some());
    }

    #[test]
    fn an_answer_older_than_the_remembered_invalidations_is_not_kept() {
        let c = cache(1 << 20);
        let k = key("{ a }");
        let began = c.begin();
        for i in 0..=HISTORY {
            c.invalidate(vec![Tag::Ghl(format!("other{i}"))]);
        }
        c.put(&k, kept("A"), vec![Tag::Ghl("c1".into())], began);
        assert!(c.get(&k, 0).is_none());
    }

    #[test]
    fn lookups_miss_while_logged_commits_are_not_applied() {
        let c = cache(1 << 20);
        let k = key("{ a }");
        c.put(&k, kept("A"), vec![], c.begin());
        assert!(c.get(&k, 1).is_none());
        assert!(c.get(&k, 0).is_some());
    }

    #[test]
    fn keys_differ_by_scope_variables_and_operation() {
        let c = cache(1 << 20);
        c.put(
            &Key::new("q", None, "{}", "read"),
            kept("A"),
            vec![],
            c.begin(),
        );
        assert!(c.get(&Key::new("q", None, "{}", "admin"), 0).is_none());
        assert!(
            c.get(&Key::new("q", None, "{\"x\":1}", "read"), 0)
                .is_none()
        );
        assert!(c.get(&Key::new("q", Some("Q"), "{}", "read"), 0).is_none());
        assert!(c.get(&Key::new("q", None, "{}", "read"), 0).is_some());
    }

    #[test]
    fn the_oldest_answers_are_evicted_past_the_bound() {
        let c = cache(64);
        let keys: Vec<Key> = (0..4).map(|i| key(&format!("{{ f{i} }}"))).collect();
        for k in &keys {
            c.put(k, kept(&"x".repeat(20)), vec![], c.begin());
        }
        assert!(c.get(&keys[0], 0).is_none());
        assert!(c.get(&keys[3], 0).is_some());
        assert!(c.state().bytes <= 64);
    }

    fn parse(q: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(q).unwrap()
    }

    #[test]
    fn only_queries_of_loader_fed_roots_without_synced_at_are_cacheable() {
        let yes = [
            "{ contact(id: \"1\") { name } }",
            "query Q { contacts(first: 5) { edges { node { ...F } } } } fragment F on Contact { name }",
            "{ __typename ... on QueryRoot { contact(id: \"1\") { id } } }",
        ];
        let no = [
            "mutation { syncLinks { linked } }",
            "{ syncStatus { source } }",
            "{ contact(id: \"1\") { name } changes { edges { cursor } } }",
            "{ contact(id: \"1\") { tasks { syncedAt } } }",
            "{ contact(id: \"1\") { ...F } } fragment F on Contact { syncedAt }",
            "query A { contact(id: \"1\") { id } } query B { contact(id: \"2\") { id } }",
        ];
        for q in yes {
            assert!(cacheable(&parse(q), Some("Q")), "{q}");
        }
        for q in no {
            assert!(!cacheable(&parse(q), None), "{q}");
        }
        assert!(cacheable(
            &parse("query A { contact(id: \"1\") { id } } query B { syncStatus { source } }"),
            Some("A")
        ));
        assert!(
            cacheable(
                &parse("query Q50($after: String) { contacts(after: $after) { totalCount } }"),
                None
            ),
            "a lone named operation run without its name"
        );
    }
}
