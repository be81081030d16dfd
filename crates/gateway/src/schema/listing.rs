//! Lists of people: GHL-driven `contacts` and Club OS-driven `unlinkedMembers`.
//!
//! Filters GHL can apply (name, email, tag, updated since, free text) go into its search;
//! link and membership status are known only after linking, so with those filters the
//! gateway reads further GHL pages (at most [`MAX_ROUNDS`]) until the page is full.

use async_graphql::{Context, ErrorExtensions, InputObject, Object, Result, SimpleObject};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::{FutureExt, future::join_all};
use serde_json::{Value, json};

use super::{
    contact::{Contact, LinkStatus, MembershipStatus},
    page_cost,
    person::{person_of_clubos, person_of_ghl},
    prefetch::{self, Wants},
};
use crate::{
    error::{ErrorCode, GatewayError},
    linking,
    loaders::{self, Loaders},
    response_cache::Tag,
    store::RecordKind,
    upstream::ghl::models::{
        FilterOp, GhlContact, SearchFilter, SearchRequest, SearchSort, SortDirection,
    },
};

/// GHL or Club OS pages one request may read to fill a filtered page.
pub const MAX_ROUNDS: usize = 10;
/// Rows per upstream page when filtering after linking.
const SCAN_PAGE: u32 = 100;

/// People linking has not matched.
#[derive(Debug, Default)]
pub struct LinkQueries;

#[Object]
impl LinkQueries {
    /// Club OS members and prospects that have no GHL contact, in Club OS id order.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn unlinked_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Page size, 1 to 100.")] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only members with this membership status.")] membership_status: Option<
            MembershipStatus,
        >,
    ) -> Result<ContactConnection> {
        club_os_only(ctx, first, after, membership_status).await
    }
}

/// What a list of people can be narrowed to.
#[derive(Debug, Clone, Default, InputObject)]
pub struct ContactFilter {
    /// Part of a first or last name, any case (letters, digits, spaces and hyphens).
    pub name: Option<String>,
    /// Exact email, any case.
    pub email: Option<String>,
    /// A GHL tag.
    pub tag: Option<String>,
    /// Only people whose records relate this way.
    pub link_status: Option<LinkStatus>,
    /// Only people with this membership status (people without a Club OS record never
    /// match).
    pub membership_status: Option<MembershipStatus>,
    /// Only people GHL changed at or after this instant (ISO-8601).
    pub updated_since: Option<String>,
}

/// A page of people (a Relay connection).
#[derive(Debug, Clone, SimpleObject)]
pub struct ContactConnection {
    /// The people of this page, each with its cursor.
    pub edges: Vec<ContactEdge>,
    /// Where this page stands in the list.
    pub page_info: PageInfo,
    /// How many people match in all, when the upstream says so without filtering after
    /// linking; null otherwise.
    pub total_count: Option<u64>,
}

/// One person of a page.
#[derive(Debug, Clone, SimpleObject)]
pub struct ContactEdge {
    /// Pass as `after` to continue after this person.
    pub cursor: String,
    /// The person.
    pub node: Contact,
}

/// Where a page stands in its list.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether more people follow this page.
    pub has_next_page: bool,
    /// Whether this page was asked for with a cursor (people precede it).
    pub has_previous_page: bool,
    /// The cursor of the first person of the page.
    pub start_cursor: Option<String>,
    /// The cursor of the last person of the page: pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

impl ContactConnection {
    fn new(
        edges: Vec<ContactEdge>,
        has_previous: bool,
        has_next: bool,
        total: Option<u64>,
    ) -> Self {
        Self {
            page_info: PageInfo {
                has_next_page: has_next,
                has_previous_page: has_previous,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: total,
        }
    }
}

pub(super) fn bad_input(message: &str) -> async_graphql::Error {
    GatewayError::new(ErrorCode::BadUserInput, message).extend()
}

pub(super) fn encode(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

pub(super) fn decode(cursor: &str) -> Result<Value> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad_input("after is not a cursor this list gave out"))
}

pub(super) fn page_size(first: i32) -> Result<usize> {
    match usize::try_from(first) {
        Ok(n @ 1..=100) => Ok(n),
        _ => Err(bad_input("first must be between 1 and 100")),
    }
}

fn name_ok(s: &str) -> bool {
    !s.trim().is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
}

/// GHL search conditions for the filters GHL can apply itself.
fn ghl_filters(f: &ContactFilter) -> Result<Vec<SearchFilter>> {
    let mut out = Vec::new();
    if let Some(name) = &f.name {
        if !name_ok(name) {
            return Err(bad_input(
                "filter.name may hold letters, digits, spaces and hyphens",
            ));
        }
        let n = name.trim().to_lowercase();
        out.push(SearchFilter::any(vec![
            SearchFilter::cond("firstNameLowerCase", FilterOp::Contains, n.as_str()),
            SearchFilter::cond("lastNameLowerCase", FilterOp::Contains, n.as_str()),
        ]));
    }
    if let Some(email) = &f.email {
        out.push(SearchFilter::cond(
            "email",
            FilterOp::Eq,
            email.trim().to_lowercase(),
        ));
    }
    if let Some(tag) = &f.tag {
        out.push(SearchFilter::cond(
            "tags",
            FilterOp::Eq,
            tag.trim().to_lowercase(),
        ));
    }
    if let Some(since) = &f.updated_since {
        let t = chrono::DateTime::parse_from_rfc3339(since)
            .map_err(|_| bad_input("filter.updatedSince is not an ISO-8601 instant"))?;
        out.push(SearchFilter::cond(
            "dateUpdated",
            FilterOp::Range,
            json!({"gte": t.to_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()}),
        ));
    }
    Ok(out)
}

fn keep(c: &Contact, f: &ContactFilter) -> bool {
    f.link_status.is_none_or(|s| c.current_link_status() == s)
        && f.membership_status
            .is_none_or(|s| c.current_membership_status() == Some(s))
}

/// `contacts(...)`.
pub async fn contacts(
    ctx: &Context<'_>,
    first: i32,
    after: Option<String>,
    query: Option<String>,
    filter: ContactFilter,
) -> Result<ContactConnection> {
    let first = page_size(first)?;
    if filter.link_status == Some(LinkStatus::ClubOsOnly) {
        if query.is_some()
            || filter.name.is_some()
            || filter.email.is_some()
            || filter.tag.is_some()
        {
            return Err(bad_input(
                "linkStatus CLUB_OS_ONLY lists Club OS members and takes no GHL filters",
            ));
        }
        return club_os_only(ctx, i32::try_from(first)?, after, filter.membership_status).await;
    }
    if query.as_ref().is_some_and(|q| q.chars().count() > 75) {
        return Err(bad_input("query is longer than 75 characters"));
    }
    let l = ctx.data::<Loaders>()?;
    let wants = Wants::of(ctx.look_ahead().field("edges").field("node"));
    let filtering_after = filter.link_status.is_some() || filter.membership_status.is_some();
    let after_value = after.as_deref().map(decode).transpose()?;
    let plain = query.as_ref().is_none_or(|q| q.trim().is_empty())
        && !filtering_after
        && ghl_filters(&filter)?.is_empty();
    if plain
        && let Some(page) = from_read_model(ctx, l, wants, first, after_value.as_ref())
            .boxed()
            .await?
    {
        return Ok(page);
    }
    if after_value.as_ref().is_some_and(|v| v.get("rm").is_some()) {
        return Err(GatewayError::new(
            ErrorCode::BadUserInput,
            "after came from the read model, which cannot serve this list now: start from the first page",
        )
        .extend());
    }
    let mut search = SearchRequest {
        page_limit: if filtering_after {
            SCAN_PAGE
        } else {
            u32::try_from(first + 1)?
        },
        search_after: after_value.map(|v| match v {
            Value::Array(a) => a,
            other => vec![other],
        }),
        query: query.filter(|q| !q.trim().is_empty()),
        filters: ghl_filters(&filter)?,
        sort: vec![SearchSort {
            field: "dateAdded".into(),
            direction: SortDirection::Desc,
        }],
        ..SearchRequest::default()
    };
    let mut edges = Vec::new();
    let mut has_next = false;
    let mut total = None;
    'rounds: for _ in 0..MAX_ROUNDS {
        let page = l.ghl_search(&search).await.map_err(|e| e.extend())?;
        if !filtering_after {
            total = Some(page.total);
        }
        let rows = page.contacts.len();
        let people = link_page(
            ctx,
            l,
            wants,
            &page.contacts,
            first,
            filtering_after,
            Ahead::WhileLinking,
        )
        .boxed()
        .await?;
        for (row, person) in page.contacts.iter().zip(people) {
            let person = person?;
            if !keep(&person, &filter) {
                search.search_after = row.search_after.clone();
                continue;
            }
            if edges.len() == first {
                has_next = true;
                break 'rounds;
            }
            let cursor = encode(&json!(row.search_after));
            edges.push(ContactEdge {
                cursor,
                node: person,
            });
            search.search_after = row.search_after.clone();
        }
        has_next = rows >= search.page_limit as usize;
        if !has_next || edges.len() == first {
            break;
        }
    }
    finish_page(l, wants, &edges).await;
    Ok(ContactConnection::new(
        edges,
        after.is_some(),
        has_next,
        total,
    ))
}

/// Loads what the query asks of the people of a finished page (see [`prefetch_page`]).
async fn finish_page(l: &Loaders, wants: Wants, edges: &[ContactEdge]) {
    let ghl_ids: Vec<String> = edges
        .iter()
        .filter_map(|e| e.node.ghl_contact_id())
        .collect();
    let clubos_ids: Vec<i64> = edges
        .iter()
        .filter_map(|e| e.node.clubos_user_id())
        .collect();
    prefetch_page(l, wants, &ghl_ids, &clubos_ids).await;
}

/// When a page loads what its rows show besides the contacts themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    /// While the rows link: GHL records in one batch for the page, Club OS events as each
    /// row links, the location list at once. For pages read from GHL, where linking waits
    /// on upstream lookups that the loading can overlap.
    WhileLinking,
    /// Once every row has linked, in one batch per kind: for pages read from the store,
    /// where linking costs little and the store answers one query per batch.
    AfterLinking,
}

/// Links a page of GHL contacts, loading what the query asks of the first `first` (the
/// rows shown) as `ahead` says; rows filtered after linking load nothing here.
async fn link_page(
    ctx: &Context<'_>,
    l: &Loaders,
    wants: Wants,
    contacts: &[GhlContact],
    first: usize,
    filtering_after: bool,
    ahead: Ahead,
) -> Result<Vec<Result<Contact>>> {
    for c in contacts {
        l.ghl_contact
            .feed_one(c.id.clone(), Ok(Some(c.clone())))
            .await;
    }
    let wants = wants.unless(filtering_after || ahead == Ahead::AfterLinking);
    let shown: Vec<String> = contacts.iter().take(first).map(|c| c.id.clone()).collect();
    let region = l.readers().phone_region;
    let linking = async {
        linking::warm_for_contacts(l, region, contacts).await;
        join_all(contacts.iter().cloned().enumerate().map(|(i, c)| {
            let wants = wants.clubos_side().unless(i >= first);
            person_of_ghl(ctx, c, wants)
        }))
        .await
    };
    let (people, (), ()) = futures_util::join!(
        linking,
        prefetch::ghl(l, wants, &shown),
        prefetch::locations(l, wants)
    );
    Ok(people)
}

/// The unfiltered list from the read model, newest first, when the read model holds
/// every GHL contact (see [`crate::read_model`]); `None` when it cannot serve it.
async fn from_read_model(
    ctx: &Context<'_>,
    l: &Loaders,
    wants: Wants,
    first: usize,
    after: Option<&Value>,
) -> Result<Option<ContactConnection>> {
    let Some(rm) = l
        .readers()
        .read_model
        .as_ref()
        .filter(|_| !l.meta.reads_through())
    else {
        return Ok(None);
    };
    let position = match after {
        None => None,
        Some(v) => match (v["rm"][0].as_i64(), v["rm"][1].as_str()) {
            (Some(sort), Some(id)) => Some((sort, id.to_owned())),
            _ => return Ok(None),
        },
    };
    let store = rm.store();
    if !rm.listable(RecordKind::GhlContact).await.unwrap_or(false) {
        return Ok(None);
    }
    // Which contacts the page holds, and their count, change with any contact.
    l.meta.read(|tags| tags.push(Tag::AnyGhlContact));
    rm.settled().await;
    let limit = i64::try_from(first + 1)?;
    let (rows, total) = match futures_util::try_join!(
        store.record_page(
            RecordKind::GhlContact,
            position.as_ref().map(|(s, id)| (*s, id.as_str())),
            limit
        ),
        store.record_count(RecordKind::GhlContact)
    ) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "read model unavailable; listing from GHL");
            return Ok(None);
        }
    };
    let has_next = rows.len() > first;
    let rows: Vec<_> = rows.into_iter().take(first).collect();
    // A row a write made stale is read through (the others come as stored).
    let stale: Vec<String> = rows
        .iter()
        .filter(|r| r.stale)
        .map(|r| r.id.clone())
        .collect();
    loaders::warm(&l.ghl_contact, stale).await;
    let mut cursors = Vec::new();
    let mut contacts = Vec::new();
    for row in rows {
        let contact = if row.stale {
            loaders::one(&l.ghl_contact, row.id.clone())
                .await
                .map_err(|e| e.extend())?
        } else {
            l.meta
                .served_synced((RecordKind::GhlContact, row.id.clone()), row.synced_at_ms);
            serde_json::from_str::<GhlContact>(&row.body).ok()
        };
        if let Some(c) = contact {
            cursors.push(encode(&json!({"rm": [row.sort_ms, row.id]})));
            contacts.push(c);
        }
    }
    let people = link_page(ctx, l, wants, &contacts, first, false, Ahead::AfterLinking).await?;
    let mut edges = Vec::with_capacity(people.len());
    for (cursor, person) in cursors.into_iter().zip(people) {
        edges.push(ContactEdge {
            cursor,
            node: person?,
        });
    }
    finish_page(l, wants, &edges).await;
    Ok(Some(ContactConnection::new(
        edges,
        after.is_some(),
        has_next,
        u64::try_from(total).ok(),
    )))
}

/// Loads what the query asks of a page's people at once, so that batch endpoints see the
/// whole page in one batch however long resolving its fields takes (each person's fields
/// are then answered from what the loaders hold). Rows that were not loaded ahead while
/// they linked (filtered lists) are loaded here; the rest cost nothing.
async fn prefetch_page(l: &Loaders, wants: Wants, ghl_ids: &[String], clubos_ids: &[i64]) {
    futures_util::join!(
        prefetch::ghl(l, wants, ghl_ids),
        prefetch::clubos(l, wants, clubos_ids),
        prefetch::locations(l, wants)
    );
}

/// `unlinkedMembers(...)` and `contacts(filter: {linkStatus: CLUB_OS_ONLY})`: Club OS
/// users in id order whose linking finds no GHL contact. The cursor is the Club OS page
/// and the position after the last row given.
pub async fn club_os_only(
    ctx: &Context<'_>,
    first: i32,
    after: Option<String>,
    membership: Option<MembershipStatus>,
) -> Result<ContactConnection> {
    let first = page_size(first)?;
    let (mut page, mut offset) = match after.as_deref().map(decode).transpose()? {
        Some(v) => (
            v["page"].as_u64().unwrap_or(0),
            v["offset"].as_u64().unwrap_or(0),
        ),
        None => (0, 0),
    };
    let l = ctx.data::<Loaders>()?;
    let mut edges = Vec::new();
    let mut has_next = false;
    'rounds: for _ in 0..MAX_ROUNDS {
        let users = loaders::one(&l.clubos_user_page, u32::try_from(page)?)
            .await
            .map_err(|e| e.extend())?;
        let rows: Vec<_> = users
            .into_iter()
            .enumerate()
            .skip(usize::try_from(offset)?)
            .collect();
        let count = rows.len() + usize::try_from(offset)?;
        for (_, u) in &rows {
            l.clubos_user.feed_one(u.user_id, Ok(Some(u.clone()))).await;
        }
        let people = join_all(
            rows.iter()
                .map(|(_, u)| person_of_clubos(ctx, u.clone(), Wants::default())),
        )
        .await;
        for ((i, _), person) in rows.iter().zip(people) {
            let person = person?;
            let wanted = person.current_link_status() == LinkStatus::ClubOsOnly
                && membership.is_none_or(|m| person.current_membership_status() == Some(m));
            if !wanted {
                continue;
            }
            if edges.len() == first {
                has_next = true;
                break 'rounds;
            }
            let cursor = encode(&json!({"page": page, "offset": i + 1}));
            edges.push(ContactEdge {
                cursor,
                node: person,
            });
        }
        has_next = count >= loaders::CLUBOS_PAGE as usize;
        if !has_next || edges.len() == first {
            break;
        }
        page += 1;
        offset = 0;
    }
    let ids: Vec<i64> = edges
        .iter()
        .filter_map(|e| e.node.clubos_user_id())
        .collect();
    let wants = Wants::of(ctx.look_ahead().field("edges").field("node"));
    prefetch_page(l, wants, &[], &ids).await;
    Ok(ContactConnection::new(
        edges,
        after.is_some(),
        has_next,
        None,
    ))
}
