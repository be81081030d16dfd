//! The fetch functions behind the loaders: one per upstream resource, batched where the
//! endpoint takes many keys (GHL's search with an OR group, the location task search),
//! one call per key under the fan-out cap elsewhere.

use std::{collections::HashMap, future::Future, hash::Hash, sync::Arc};

use futures_util::{FutureExt, StreamExt, future::BoxFuture, stream};

use super::{Fetched, Readers, email_key, phone_key};
use crate::{
    cache::MatchKey,
    error::{ErrorCode, GatewayError, System},
    store::Link,
    upstream::{
        UpstreamError,
        clubos::{ClubOsEvent, ClubOsLocation, ClubOsUser, EventSearch, UserSearch},
        ghl::models::{
            FilterOp, GhlAppointment, GhlContact, GhlNote, GhlTask, SearchFilter, SearchRequest,
            SearchResponse, TaskSearch,
        },
    },
};

/// Club OS users per page of [`super::Loaders::clubos_user_page`].
pub const CLUBOS_PAGE: u32 = 100;

pub(super) fn fetch_ghl_search(
    s: Arc<Readers>,
    keys: Vec<String>,
) -> BoxFuture<'static, HashMap<String, Fetched<SearchResponse>>> {
    async move {
        per_key(keys, s.fanout, |key| {
            let s = s.clone();
            async move {
                let req: SearchRequest = serde_json::from_str(&key).map_err(|_| {
                    GatewayError::new(ErrorCode::BadUserInput, "unsearchable request")
                })?;
                s.ghl.search_contacts(&req).await.map_err(ghl_err)
            }
        })
        .await
    }
    .boxed()
}

pub(super) fn fetch_clubos_user_page(
    s: Arc<Readers>,
    keys: Vec<u32>,
) -> BoxFuture<'static, HashMap<u32, Fetched<Vec<ClubOsUser>>>> {
    async move {
        per_key(keys, s.fanout, |page| {
            let s = s.clone();
            async move {
                s.clubos
                    .search_users(&UserSearch {
                        page,
                        size: CLUBOS_PAGE,
                        sort_on: Some("userId".into()),
                        ..UserSearch::default()
                    })
                    .await
                    .map(|p| p.content)
                    .map_err(clubos_err)
            }
        })
        .await
    }
    .boxed()
}

/// Runs `f` for every key, at most `cap` at a time.
pub(super) async fn per_key<K, V, F, Fut>(keys: Vec<K>, cap: usize, f: F) -> HashMap<K, Fetched<V>>
where
    K: Hash + Eq + Clone,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Fetched<V>>,
{
    stream::iter(keys)
        .map(|k| {
            let fut = f(k.clone());
            async move { (k, fut.await) }
        })
        .buffer_unordered(cap.max(1))
        .collect()
        .await
}

/// Answers every key from one lookup's results: found, or known to be absent.
pub(super) fn each_key<K: Hash + Eq, V>(
    keys: Vec<K>,
    mut found: HashMap<K, V>,
) -> HashMap<K, Fetched<Option<V>>> {
    keys.into_iter()
        .map(|k| {
            let v = found.remove(&k);
            (k, Ok(v))
        })
        .collect()
}

/// Gives every key the same failure (a batch call failed as a whole).
pub(super) fn all_failed<K: Hash + Eq, V>(
    keys: Vec<K>,
    e: &GatewayError,
) -> HashMap<K, Fetched<V>> {
    keys.into_iter().map(|k| (k, Err(e.clone()))).collect()
}

pub(super) fn ghl_err(e: UpstreamError) -> GatewayError {
    GatewayError::upstream(System::Ghl, &e)
}

pub(super) fn clubos_err(e: UpstreamError) -> GatewayError {
    GatewayError::upstream(System::ClubOs, &e)
}

pub(super) fn fetch_ghl_contacts(
    s: Arc<Readers>,
    keys: Vec<String>,
) -> BoxFuture<'static, HashMap<String, Fetched<Option<GhlContact>>>> {
    async move {
        per_key(keys, s.fanout, |id| {
            let s = s.clone();
            async move { s.ghl.get_contact(&id).await.map_err(ghl_err) }
        })
        .await
    }
    .boxed()
}

pub(super) fn fetch_clubos_users(
    s: Arc<Readers>,
    keys: Vec<i64>,
) -> BoxFuture<'static, HashMap<i64, Fetched<Option<ClubOsUser>>>> {
    async move {
        per_key(keys, s.fanout, |id| {
            let s = s.clone();
            async move { s.clubos.get_user(id).await.map_err(clubos_err) }
        })
        .await
    }
    .boxed()
}

/// GHL's task search caps neither the contact list nor the page size in its spec; these
/// keep each call modest.
const TASK_SEARCH_CONTACTS: usize = 100;
const TASK_SEARCH_PAGE: u32 = 100;

pub(super) fn fetch_ghl_tasks(
    s: Arc<Readers>,
    keys: Vec<String>,
) -> BoxFuture<'static, HashMap<String, Fetched<Vec<GhlTask>>>> {
    async move {
        let mut out: HashMap<String, Fetched<Vec<GhlTask>>> =
            keys.iter().map(|k| (k.clone(), Ok(Vec::new()))).collect();
        for chunk in keys.chunks(TASK_SEARCH_CONTACTS) {
            let mut skip = 0;
            loop {
                let page = s
                    .ghl
                    .search_tasks(&TaskSearch {
                        contact_ids: chunk.to_vec(),
                        limit: TASK_SEARCH_PAGE,
                        skip,
                        ..TaskSearch::default()
                    })
                    .await;
                let tasks = match page {
                    Ok(t) => t,
                    Err(e) => {
                        let e = ghl_err(e);
                        for k in chunk {
                            out.insert(k.clone(), Err(e.clone()));
                        }
                        break;
                    }
                };
                let n = tasks.len();
                for t in tasks {
                    if let Some(Ok(list)) = t.contact_id.as_ref().and_then(|c| out.get_mut(c)) {
                        list.push(t);
                    }
                }
                if n < TASK_SEARCH_PAGE as usize {
                    break;
                }
                skip += TASK_SEARCH_PAGE;
            }
        }
        out
    }
    .boxed()
}

pub(super) fn fetch_ghl_notes(
    s: Arc<Readers>,
    keys: Vec<String>,
) -> BoxFuture<'static, HashMap<String, Fetched<Vec<GhlNote>>>> {
    async move {
        per_key(keys, s.fanout, |id| {
            let s = s.clone();
            async move { s.ghl.list_notes(&id).await.map_err(ghl_err) }
        })
        .await
    }
    .boxed()
}

pub(super) fn fetch_ghl_appointments(
    s: Arc<Readers>,
    keys: Vec<String>,
) -> BoxFuture<'static, HashMap<String, Fetched<Vec<GhlAppointment>>>> {
    async move {
        per_key(keys, s.fanout, |id| {
            let s = s.clone();
            async move { s.ghl.contact_appointments(&id).await.map_err(ghl_err) }
        })
        .await
    }
    .boxed()
}

pub(super) fn fetch_clubos_events(
    s: Arc<Readers>,
    keys: Vec<i64>,
) -> BoxFuture<'static, HashMap<i64, Fetched<Vec<ClubOsEvent>>>> {
    async move {
        per_key(keys, s.fanout, |id| {
            let s = s.clone();
            async move {
                s.clubos
                    .search_events(&EventSearch {
                        user_id: Some(id),
                        size: 100,
                        ..EventSearch::default()
                    })
                    .await
                    .map(|p| p.content)
                    .map_err(clubos_err)
            }
        })
        .await
    }
    .boxed()
}

pub(super) fn fetch_clubos_locations(
    s: Arc<Readers>,
    keys: Vec<()>,
) -> BoxFuture<'static, HashMap<(), Fetched<Vec<ClubOsLocation>>>> {
    async move {
        match s.clubos.list_locations().await {
            Ok(page) => keys
                .into_iter()
                .map(|k| (k, Ok(page.content.clone())))
                .collect(),
            Err(e) => all_failed(keys, &clubos_err(e)),
        }
    }
    .boxed()
}

/// Keys per search: each becomes one condition of an OR group.
const MATCH_BATCH: usize = 50;

/// One GHL search per chunk of keys, as an OR group of `field eq value`; rows are sorted
/// back to the keys they match with `key_of`.
pub(super) async fn ghl_or_search(
    s: &Readers,
    keys: Vec<MatchKey>,
    field: &str,
    value_of: impl Fn(&str) -> Option<String>,
    key_of: impl Fn(&GhlContact) -> Vec<MatchKey>,
) -> HashMap<MatchKey, Fetched<Vec<GhlContact>>> {
    let mut out: HashMap<MatchKey, Fetched<Vec<GhlContact>>> =
        keys.iter().map(|k| (k.clone(), Ok(Vec::new()))).collect();
    for chunk in keys.chunks(MATCH_BATCH) {
        let conditions: Vec<SearchFilter> = chunk
            .iter()
            .filter_map(|k| value_of(k))
            .map(|v| SearchFilter::cond(field, FilterOp::Eq, v))
            .collect();
        if conditions.is_empty() {
            continue;
        }
        let request = SearchRequest {
            page_limit: 500,
            filters: vec![SearchFilter::any(conditions)],
            ..SearchRequest::default()
        };
        match s.ghl.search_contacts(&request).await {
            Ok(r) => {
                for c in r.contacts {
                    for k in key_of(&c) {
                        if let Some(Ok(list)) = out.get_mut(&k) {
                            list.push(c.clone());
                        }
                    }
                }
            }
            Err(e) => {
                let e = ghl_err(e);
                for k in chunk {
                    out.insert(k.clone(), Err(e.clone()));
                }
            }
        }
    }
    out
}

pub(super) fn fetch_ghl_by_email(
    s: Arc<Readers>,
    keys: Vec<MatchKey>,
) -> BoxFuture<'static, HashMap<MatchKey, Fetched<Vec<GhlContact>>>> {
    async move {
        ghl_or_search(
            &s,
            keys,
            "email",
            |k| k.strip_prefix("email:").map(str::to_owned),
            |c| c.email.as_deref().map(email_key).into_iter().collect(),
        )
        .await
    }
    .boxed()
}

pub(super) fn fetch_ghl_by_phone(
    s: Arc<Readers>,
    keys: Vec<MatchKey>,
) -> BoxFuture<'static, HashMap<MatchKey, Fetched<Vec<GhlContact>>>> {
    async move {
        let region = s.phone_region;
        ghl_or_search(
            &s,
            keys,
            "phone",
            |k| k.strip_prefix("phone:").map(str::to_owned),
            |c| {
                c.phone
                    .as_deref()
                    .and_then(|p| crate::phone::to_e164(p, region))
                    .map(|p| phone_key(&p))
                    .into_iter()
                    .collect()
            },
        )
        .await
    }
    .boxed()
}

pub(super) fn fetch_ghl_by_link_field(
    s: Arc<Readers>,
    keys: Vec<i64>,
) -> BoxFuture<'static, HashMap<i64, Fetched<Vec<GhlContact>>>> {
    async move {
        let field = match s.link_field_id().await {
            Ok(Some(f)) => f.to_owned(),
            Ok(None) => return keys.into_iter().map(|k| (k, Ok(Vec::new()))).collect(),
            Err(e) => return all_failed(keys, &e),
        };
        let as_keys: Vec<MatchKey> = keys.iter().map(i64::to_string).collect();
        let found = ghl_or_search(
            &s,
            as_keys,
            &format!("customFields.{field}"),
            |k| Some(k.to_owned()),
            |c| c.custom_field(&field).into_iter().collect(),
        )
        .await;
        found
            .into_iter()
            .filter_map(|(k, v)| k.parse().ok().map(|id| (id, v)))
            .collect()
    }
    .boxed()
}

pub(super) fn fetch_clubos_by_email(
    s: Arc<Readers>,
    keys: Vec<MatchKey>,
) -> BoxFuture<'static, HashMap<MatchKey, Fetched<Vec<ClubOsUser>>>> {
    async move {
        per_key(keys, s.fanout, |k| {
            let s = s.clone();
            async move {
                let email = k.strip_prefix("email:").unwrap_or(&k).to_owned();
                s.clubos
                    .search_users(&UserSearch {
                        email: Some(email),
                        ..UserSearch::default()
                    })
                    .await
                    .map(|p| p.content)
                    .map_err(clubos_err)
            }
        })
        .await
    }
    .boxed()
}

pub(super) fn fetch_clubos_by_phone(
    s: Arc<Readers>,
    keys: Vec<MatchKey>,
) -> BoxFuture<'static, HashMap<MatchKey, Fetched<Vec<ClubOsUser>>>> {
    async move {
        let region = s.phone_region;
        per_key(keys, s.fanout, |k| {
            let s = s.clone();
            async move {
                let e164 = k.strip_prefix("phone:").unwrap_or(&k);
                let Some(digits) = crate::phone::to_national_digits(e164, region) else {
                    return Ok(Vec::new());
                };
                s.clubos
                    .search_users(&UserSearch {
                        phone: Some(digits),
                        ..UserSearch::default()
                    })
                    .await
                    .map(|p| p.content)
                    .map_err(clubos_err)
            }
        })
        .await
    }
    .boxed()
}

pub(super) fn store_err(e: crate::store::StoreError) -> GatewayError {
    tracing::warn!(error = %e, "link store failed");
    GatewayError::new(ErrorCode::StoreUnavailable, "the link store is unavailable")
}

pub(super) fn fetch_links_by_ghl(
    s: Arc<Readers>,
    keys: Vec<String>,
) -> BoxFuture<'static, HashMap<String, Fetched<Option<Link>>>> {
    async move {
        match s.store.links_by_ghl(&keys).await {
            Ok(links) => each_key(
                keys,
                links
                    .into_iter()
                    .map(|l| (l.ghl_contact_id.clone(), l))
                    .collect(),
            ),
            Err(e) => all_failed(keys, &store_err(e)),
        }
    }
    .boxed()
}

pub(super) fn fetch_links_by_clubos(
    s: Arc<Readers>,
    keys: Vec<i64>,
) -> BoxFuture<'static, HashMap<i64, Fetched<Option<String>>>> {
    async move {
        match s.store.links_by_clubos(&keys).await {
            Ok(links) => each_key(
                keys,
                links
                    .into_iter()
                    .map(|l| (l.clubos_user_id, l.ghl_contact_id))
                    .collect(),
            ),
            Err(e) => all_failed(keys, &store_err(e)),
        }
    }
    .boxed()
}
