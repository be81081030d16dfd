//! How each loader reads the read model and stores what its upstream answered: records
//! by id, per-owner collections, and (once a kind is complete) who holds an email, a
//! phone or a link-field value. A store failure is logged and read as "not stored": the
//! upstream still answers.

use std::{collections::HashMap, hash::Hash, str::FromStr, sync::Arc};

use futures_util::{FutureExt, future::BoxFuture};

use super::Readers;
use crate::{
    cache::MatchKey,
    read_model::{LOCATIONS_OWNER, ReadModel, Record, Synced, link_key},
    store::{ReadSource, RecordKind, StoreError},
    upstream::{clubos::ClubOsLocation, ghl::models::GhlContact},
};

/// A value the read model served, with when it was synced.
pub(super) type Served<V> = (V, i64);

type ReadFn<K, V> = fn(Arc<Readers>, Vec<K>) -> BoxFuture<'static, HashMap<K, Served<V>>>;
/// Which stored record a loader's key names.
type RecordOf<K> = fn(&K) -> (RecordKind, String);
/// Stores what the upstream answered, as learned the way the request says.
type WriteFn<K, V> = fn(Arc<Readers>, Vec<(K, V)>, ReadSource) -> BoxFuture<'static, ()>;

/// A loader's way into the read model.
pub(super) struct Mirror<K, V> {
    pub read: ReadFn<K, V>,
    pub write: WriteFn<K, V>,
    /// Whether it answers who holds a value (which a write asks of the upstreams).
    pub lookup: bool,
    /// For records by id: which record a key names (for `syncedAt`).
    pub record: Option<RecordOf<K>>,
}

fn model(s: &Readers) -> &ReadModel {
    s.read_model
        .as_ref()
        .expect("mirrors run only with the read model on")
}

fn logged<T: Default>(what: &'static str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| {
        tracing::warn!(error = %e, what, "read model unavailable; reading through");
        T::default()
    })
}

/// A key of a loader that the read model stores as text (GHL ids, Club OS ids).
pub(super) trait StoredKey:
    Hash + Eq + Clone + Send + Sync + ToString + FromStr + 'static
{
}

impl<K: Hash + Eq + Clone + Send + Sync + ToString + FromStr + 'static> StoredKey for K {}

/// Records by id (GHL contacts, Club OS users); an id the upstream no longer has becomes
/// a tombstone.
pub(super) fn records<K: StoredKey, T: Record>() -> Mirror<K, Option<T>> {
    Mirror {
        read: |s, ids| {
            async move {
                let keys: Vec<String> = ids.iter().map(K::to_string).collect();
                let found = logged("records", model(&s).get::<T>(&keys).await);
                found
                    .into_iter()
                    .filter_map(|(id, r)| Some((id.parse().ok()?, (Some(r.value), r.synced_at_ms))))
                    .collect()
            }
            .boxed()
        },
        write: |s, answered, via| {
            async move {
                let m = model(&s);
                let mut found = Vec::new();
                for (id, record) in answered {
                    match record {
                        Some(r) => found.push(r),
                        None => {
                            let gone = m.remove(T::KIND, &id.to_string(), via).await;
                            logged("record", gone.map(|_| ()));
                        }
                    }
                }
                logged("records", m.put(&found, via).await.map(|_| ()));
            }
            .boxed()
        },
        lookup: false,
        record: Some(|id| (T::KIND, id.to_string())),
    }
}

/// Collections owned by a GHL contact (tasks, notes, appointments) or a Club OS user
/// (events).
pub(super) fn sets<K: StoredKey, T: Record>() -> Mirror<K, Vec<T>> {
    Mirror {
        read: |s, owners| {
            async move {
                let keys: Vec<String> = owners.iter().map(K::to_string).collect();
                let found = logged("collections", model(&s).sets::<T>(&keys).await);
                found
                    .into_iter()
                    .filter_map(|(o, r): (String, Synced<Vec<T>>)| {
                        Some((o.parse().ok()?, (r.value, r.synced_at_ms)))
                    })
                    .collect()
            }
            .boxed()
        },
        write: |s, answered, via| {
            async move {
                for (owner, records) in answered {
                    let stored = model(&s).put_set(&owner.to_string(), &records, via).await;
                    logged("collection", stored.map(|_| ()));
                }
            }
            .boxed()
        },
        lookup: false,
        record: None,
    }
}

/// The club's location list, stored as one collection.
pub(super) fn locations() -> Mirror<(), Vec<ClubOsLocation>> {
    Mirror {
        read: |s, keys| {
            async move {
                let owner = [LOCATIONS_OWNER.to_owned()];
                let found = logged("locations", model(&s).sets::<ClubOsLocation>(&owner).await);
                match found.into_values().next() {
                    Some(r) => keys
                        .into_iter()
                        .map(|k| (k, (r.value.clone(), r.synced_at_ms)))
                        .collect(),
                    None => HashMap::new(),
                }
            }
            .boxed()
        },
        write: |s, answered, via| {
            async move {
                if let Some((_, all)) = answered.into_iter().next() {
                    let stored = model(&s).put_set(LOCATIONS_OWNER, &all, via).await;
                    logged("locations", stored.map(|_| ()));
                }
            }
            .boxed()
        },
        lookup: false,
        record: None,
    }
}

/// Who holds an email or a phone, once the kind is complete. What an upstream search
/// found is stored as records (the lookup itself is not: a later change to anyone's
/// email is known by their record).
pub(super) fn matches<T: Record>() -> Mirror<MatchKey, Vec<T>> {
    Mirror {
        read: |s, keys| async move { holders(&s, &keys, |k| k.clone()).await }.boxed(),
        write: |s, answered, via| store_found(s, answered, via).boxed(),
        lookup: true,
        record: None,
    }
}

/// GHL contacts whose link custom field names a Club OS user, once contacts are complete.
pub(super) fn link_field_matches() -> Mirror<i64, Vec<GhlContact>> {
    Mirror {
        read: |s, ids| async move { holders(&s, &ids, |id| link_key(*id)).await }.boxed(),
        write: |s, answered, via| store_found(s, answered, via).boxed(),
        lookup: true,
        record: None,
    }
}

async fn holders<K, T>(
    s: &Readers,
    keys: &[K],
    key_of: fn(&K) -> String,
) -> HashMap<K, Served<Vec<T>>>
where
    K: Hash + Eq + Clone,
    T: Record,
{
    let stored: Vec<String> = keys.iter().map(key_of).collect();
    let Some(mut found) = logged("lookups", model(s).matching::<T>(&stored).await) else {
        return HashMap::new();
    };
    keys.iter()
        .filter_map(|k| {
            let holders = found.remove(&key_of(k))?;
            let at = holders
                .iter()
                .map(|h| h.synced_at_ms)
                .min()
                .unwrap_or_else(crate::store::now_ms);
            Some((
                k.clone(),
                (holders.into_iter().map(|h| h.value).collect(), at),
            ))
        })
        .collect()
}

async fn store_found<K, T: Record>(s: Arc<Readers>, answered: Vec<(K, Vec<T>)>, via: ReadSource) {
    let found: Vec<T> = answered.into_iter().flat_map(|(_, v)| v).collect();
    logged("lookups", model(&s).put(&found, via).await.map(|_| ()));
}
