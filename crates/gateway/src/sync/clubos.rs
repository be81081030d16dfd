//! The Club OS poll: Club OS sends no webhooks, so the gateway asks it for the users
//! changed since its stored cursor (the v3 user search by `updatedDate`; the parameter's
//! name is inferred and configurable as `clubos.updated_since_param`), oldest change
//! first. Each changed user is dropped from the caches and, with `sync.propagate`,
//! compared with their linked GHL contact ([`mapping::ghl_changes`]): what differs is
//! written to GHL through the outbox. The cursor moves only after a run finished, so a
//! run cut short is done again (harmless: values are compared, not events).
//!
//! With `sync.create_in_ghl`, a user with no stored link whom no GHL contact may already
//! be (by email, phone or link field) gets a GHL contact made from them, linked, at most
//! once per user and content (the operation's idempotency key is the user's id and a
//! digest of what is sent).
//!
//! The first run only records where it starts: history is the link sweep's and the
//! read model's, not the poll's.

use std::{sync::Arc, time::Duration};

use tokio::{sync::OnceCell, task::JoinHandle};

use super::{
    PollReport, SyncConfig, later,
    mapping::{self, Facts},
};
use crate::{
    error::{GatewayError, System},
    phone,
    store::ReadSource,
    upstream::{
        clubos::{ClubOsUser, SortDir, UserSearch},
        ghl::models::{
            ContactPatch, FilterOp, GhlContact, NewContact, SearchFilter, SearchRequest,
        },
        ratelimit::background,
    },
    writes::{self, Overall, Writer, plan},
};

/// The poll's name in the store's cursors.
pub const SOURCE: &str = "clubos_users";

/// Polls at once and then every `sync.interval_minutes`, for as long as the task lives.
pub fn spawn(w: Arc<Writer>, cfg: SyncConfig, region: phonenumber::country::Id) -> JoinHandle<()> {
    let every = Duration::from_secs(cfg.interval_minutes * 60);
    tokio::spawn(async move {
        loop {
            if let Err(e) = poll(w.clone(), cfg.clone(), region).await {
                tracing::warn!(
                    code = e.code.as_str(),
                    "Club OS poll failed; next try at the next turn"
                );
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Runs one poll.
pub async fn poll(
    w: Arc<Writer>,
    cfg: SyncConfig,
    region: phonenumber::country::Id,
) -> Result<PollReport, GatewayError> {
    let polled = || {
        if let Some(rm) = &w.read_model {
            rm.trust().clubos_polled();
        }
    };
    let turn = super::turn(&w, SOURCE, polled, |since| run(&w, &cfg, region, since));
    background(SOURCE, turn).await
}

async fn run(
    w: &Writer,
    cfg: &SyncConfig,
    region: phonenumber::country::Id,
    since: String,
) -> Result<PollReport, GatewayError> {
    let mut search = UserSearch {
        updated_since: Some(since.clone()),
        size: cfg.clubos_page_size,
        sort_on: Some("updatedDate".into()),
        sort_dir: Some(SortDir::Asc),
        ..UserSearch::default()
    };
    let mut report = PollReport {
        cursor: since,
        ..PollReport::default()
    };
    let facts = OnceCell::new();
    loop {
        let page = w
            .clubos
            .search_users(&search)
            .await
            .map_err(|e| GatewayError::upstream(System::ClubOs, &e))?;
        if let Some(rm) = &w.read_model {
            rm.put(&page.content, ReadSource::ClubOsPoll)
                .await
                .map_err(writes::store_err)?;
        }
        for user in &page.content {
            report.seen += 1;
            if let Some(at) = &user.updated_date
                && later(at, &report.cursor)
            {
                report.cursor.clone_from(at);
            }
            w.caches.invalidate_clubos_user(user.user_id).await;
            if cfg.propagate || cfg.create_in_ghl {
                carry(w, cfg, &facts, region, user, &mut report).await?;
            }
        }
        if page.content.is_empty() || u64::from(search.page) + 1 >= page.total_pages {
            return Ok(report);
        }
        search.page += 1;
    }
}

/// Carries one changed user to their linked GHL contact.
async fn carry(
    w: &Writer,
    cfg: &SyncConfig,
    facts: &OnceCell<Facts>,
    region: phonenumber::country::Id,
    user: &ClubOsUser,
    report: &mut PollReport,
) -> Result<(), GatewayError> {
    let links = w
        .store
        .links_by_clubos(&[user.user_id])
        .await
        .map_err(writes::store_err)?;
    let Some(link) = links.into_iter().next() else {
        if cfg.create_in_ghl && create_in_ghl(w, cfg, facts, region, user).await? {
            report.created += 1;
        } else {
            report.unlinked += 1;
        }
        return Ok(());
    };
    if !cfg.propagate {
        return Ok(());
    }
    let contact = w
        .ghl
        .get_contact(&link.ghl_contact_id)
        .await
        .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
    let Some(contact) = contact else {
        report.unlinked += 1;
        return Ok(());
    };
    let recency = super::recency(w, user, &contact);
    let facts = facts.get_or_try_init(|| super::facts(w, cfg)).await?;
    let changes = mapping::ghl_changes(user, &contact, &cfg.fields, facts, region, recency);
    if changes.is_empty() {
        report.unchanged += 1;
        return Ok(());
    }
    let fields: Vec<&str> = changes.fields.iter().map(|f| f.field).collect();
    // Tag writes leave the compared fields as they are: the contact as read stands for
    // what the gateway leaves behind (a field write records GHL's answer over it).
    w.own_writes.wrote_contact(&contact);
    let plan = plan::propagate(
        contact.id.clone(),
        user.user_id,
        changes.patch,
        changes.add_tags,
        changes.remove_tags,
    );
    let why = writes::Why::sync(
        SOURCE,
        "propagateToGhl",
        cfg.fields.reason("Club OS", &fields),
    );
    match writes::execute(w, plan, None, why).await {
        Ok(outcome) if outcome.overall() == Overall::Applied => {
            tracing::info!(user = user.user_id, contact = %contact.id, ?fields, "Club OS change carried to GHL");
            report.propagated += 1;
        }
        Ok(_) | Err(_) => {
            tracing::warn!(user = user.user_id, contact = %contact.id, "Club OS change not carried to GHL yet");
            report.failed += 1;
        }
    }
    Ok(())
}

/// Makes the GHL contact of `user`, who has no stored link, and links the two: only when
/// the user has a name and an email or phone, and no GHL contact holds that email, any
/// of their phones, or their id in the link field (one search, the one linking asks), so
/// that nobody GHL may already hold, a household member or a person linked only by the
/// field, is ever doubled or merged. Answers whether the contact was made.
async fn create_in_ghl(
    w: &Writer,
    cfg: &SyncConfig,
    facts: &OnceCell<Facts>,
    region: phonenumber::country::Id,
    user: &ClubOsUser,
) -> Result<bool, GatewayError> {
    let ghl_err = |e| GatewayError::upstream(System::Ghl, &e);
    let email = user
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let phones: Vec<String> = user
        .phones()
        .filter_map(|p| phone::to_e164(p, region))
        .collect();
    let named = [&user.first_name, &user.last_name]
        .iter()
        .any(|n| n.as_deref().is_some_and(|n| !n.trim().is_empty()));
    if !named || (email.is_none() && phones.is_empty()) {
        return Ok(false);
    }
    let link_field = w.link_field.id().await.map_err(ghl_err)?;
    let holders: Vec<SearchFilter> = email
        .map(|e| SearchFilter::cond("email", FilterOp::Eq, e.to_lowercase()))
        .into_iter()
        .chain(
            phones
                .iter()
                .map(|p| SearchFilter::cond("phone", FilterOp::Eq, p.as_str())),
        )
        .chain(link_field.map(|f| {
            SearchFilter::cond(
                &format!("customFields.{f}"),
                FilterOp::Eq,
                user.user_id.to_string(),
            )
        }))
        .collect();
    let held = w
        .ghl
        .search_contacts(&SearchRequest {
            page_limit: 1,
            filters: vec![SearchFilter::any(holders)],
            ..SearchRequest::default()
        })
        .await
        .map_err(ghl_err)?;
    if !held.contacts.is_empty() {
        return Ok(false);
    }
    let facts = facts.get_or_try_init(|| super::facts(w, cfg)).await?;
    let made = mapping::ghl_changes(
        user,
        &GhlContact::default(),
        &cfg.fields.for_creation_in_ghl(),
        facts,
        region,
        mapping::Recency::of(user.updated_date.as_deref(), None),
    );
    let contact = NewContact {
        location_id: w.ghl.location_id().to_owned(),
        company_name: None,
        fields: ContactPatch {
            tags: Some(made.add_tags).filter(|t| !t.is_empty()),
            ..made.patch
        },
    };
    let why = writes::Why::sync(
        SOURCE,
        "createInGhl",
        "a Club OS user with no GHL contact, and nobody in GHL holds their email or phone \
         ([sync] create_in_ghl)",
    );
    // GHL's search lags a create by seconds: a poll done again soon after a create whose
    // link is not stored yet (its answer lost, the process stopped) would not find the
    // new contact. The operation is keyed by the user and what is sent, so the same
    // create is done once for as long as keys are kept (`writes.idempotency_retention_secs`),
    // while a user whose details changed since a refused create is tried again.
    let input = serde_json::json!({"user": user.user_id, "contact": &contact});
    let mut once = writes::Idempotency::new(SOURCE, "createInGhl", "", &input);
    once.key = format!("{}:{}", user.user_id, once.fingerprint);
    match writes::execute(
        w,
        plan::create_in_ghl(contact, user.user_id),
        Some(once),
        why,
    )
    .await
    {
        Ok(outcome) if outcome.overall() != Overall::Failed => {
            tracing::info!(user = user.user_id, contact = ?outcome.ghl_contact_id, "GHL contact made for a Club OS user");
            Ok(true)
        }
        Ok(_) | Err(_) => {
            tracing::warn!(
                user = user.user_id,
                "no GHL contact could be made for a Club OS user"
            );
            Ok(false)
        }
    }
}
