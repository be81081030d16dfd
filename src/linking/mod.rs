//! Which GHL contact is which Club OS user.
//!
//! In order: a link stored in the gateway's store; the link mirrored in the GHL custom
//! field (`ghl.link_field`); the normalised email (any case); the phone, compared as
//! E.164. The first rule that finds anyone decides: one candidate links, two or more are
//! reported as ambiguous with every candidate, never guessed between. A Club OS user
//! that the store already links to another GHL contact is not a candidate.

pub mod merge;

use futures_util::future::join_all;

use crate::{
    error::GatewayError,
    loaders::{self, Loaders, email_key, phone_key},
    phone,
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
};

/// How the two systems' records of a person relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Linked,
    GhlOnly,
    ClubOsOnly,
    Ambiguous,
}

/// Which rule linked the two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRule {
    Stored,
    CustomField,
    Email,
    Phone,
}

/// A person as linking found them. When the other system could not be asked, its error
/// is kept so that the schema reports it at the fields that needed it.
#[derive(Debug, Clone)]
pub struct Person {
    pub ghl: Option<GhlContact>,
    pub clubos: Option<ClubOsUser>,
    pub status: LinkStatus,
    pub rule: Option<LinkRule>,
    pub clubos_candidates: Vec<ClubOsUser>,
    pub ghl_candidates: Vec<GhlContact>,
    pub ghl_error: Option<GatewayError>,
    pub clubos_error: Option<GatewayError>,
}

impl Person {
    fn new(status: LinkStatus) -> Self {
        Self {
            ghl: None,
            clubos: None,
            status,
            rule: None,
            clubos_candidates: Vec::new(),
            ghl_candidates: Vec::new(),
            ghl_error: None,
            clubos_error: None,
        }
    }
}

/// What one rule found.
enum Found<T> {
    Nobody,
    One(T, LinkRule),
    Several(Vec<T>),
}

impl<T> Found<T> {
    fn of(mut v: Vec<T>, rule: LinkRule) -> Self {
        match v.len() {
            0 => Self::Nobody,
            1 => Self::One(v.remove(0), rule),
            _ => Self::Several(v),
        }
    }
}

/// Completes a person found in GHL with their Club OS record.
pub async fn from_ghl(l: &Loaders, region: phonenumber::country::Id, c: GhlContact) -> Person {
    let mut p = Person::new(LinkStatus::GhlOnly);
    match clubos_for(l, region, &c).await {
        Ok(Found::One(u, rule)) => {
            p.clubos = Some(u);
            p.status = LinkStatus::Linked;
            p.rule = Some(rule);
        }
        Ok(Found::Several(us)) => {
            p.clubos_candidates = us;
            p.status = LinkStatus::Ambiguous;
        }
        Ok(Found::Nobody) => {}
        Err(e) => p.clubos_error = Some(e),
    }
    p.ghl = Some(c);
    p
}

/// Completes a person found in Club OS with their GHL contact.
pub async fn from_clubos(l: &Loaders, region: phonenumber::country::Id, u: ClubOsUser) -> Person {
    let mut p = Person::new(LinkStatus::ClubOsOnly);
    match ghl_for(l, region, &u).await {
        Ok(Found::One(c, rule)) => {
            p.ghl = Some(c);
            p.status = LinkStatus::Linked;
            p.rule = Some(rule);
        }
        Ok(Found::Several(cs)) => {
            p.ghl_candidates = cs;
            p.status = LinkStatus::Ambiguous;
        }
        Ok(Found::Nobody) => {}
        Err(e) => p.ghl_error = Some(e),
    }
    p.clubos = Some(u);
    p
}

/// The Club OS user a contact will most likely link to, as soon as the lookups show it
/// and before linking has confirmed it (that the user exists, that no other contact
/// claims them): lets callers load that user's records meanwhile. The lookups are the
/// ones linking makes, so they cost no extra call. Errors read as no hint.
pub async fn likely_clubos_id(
    l: &Loaders,
    region: phonenumber::country::Id,
    c: &GhlContact,
) -> Option<i64> {
    if let Ok(Some(id)) = loaders::one(&l.link_by_ghl, c.id.clone()).await {
        return Some(id);
    }
    if let Ok(Some(id)) = l.link_field_value(c).await {
        return Some(id);
    }
    let only = |users: Vec<ClubOsUser>| match users.as_slice() {
        [u] => Some(Some(u.user_id)),
        [] => None,
        _ => Some(None),
    };
    if let Some(found) = only(by_email(l, c).await.ok()?) {
        return found;
    }
    only(by_phone(l, region, c).await.ok()?).flatten()
}

/// The GHL contact the store links a Club OS user to, without asking GHL (see
/// [`likely_clubos_id`]).
pub async fn likely_ghl_id(l: &Loaders, u: &ClubOsUser) -> Option<String> {
    loaders::one(&l.link_by_clubos, u.user_id)
        .await
        .ok()
        .flatten()
}

/// The E.164 form of a contact's phone, if it has a valid one.
fn e164(raw: Option<&str>, region: phonenumber::country::Id) -> Option<String> {
    raw.and_then(|p| phone::to_e164(p, region))
}

async fn clubos_for(
    l: &Loaders,
    region: phonenumber::country::Id,
    c: &GhlContact,
) -> Result<Found<ClubOsUser>, GatewayError> {
    let stored = loaders::one(&l.link_by_ghl, c.id.clone()).await?;
    let field = l.link_field_value(c).await?;
    for (id, rule) in [(stored, LinkRule::Stored), (field, LinkRule::CustomField)] {
        if let Some(id) = id
            && let Some(u) = loaders::one(&l.clubos_user, id).await?
        {
            return Ok(Found::One(u, rule));
        }
    }
    let users = unclaimed_users(l, by_email(l, c).await?, &c.id).await?;
    if !users.is_empty() {
        return Ok(Found::of(users, LinkRule::Email));
    }
    let users = unclaimed_users(l, by_phone(l, region, c).await?, &c.id).await?;
    Ok(Found::of(users, LinkRule::Phone))
}

/// Club OS users with the contact's email (any case); none without an email.
async fn by_email(l: &Loaders, c: &GhlContact) -> Result<Vec<ClubOsUser>, GatewayError> {
    match c.email.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(email) => loaders::one(&l.clubos_by_email, email_key(email)).await,
        None => Ok(Vec::new()),
    }
}

/// Club OS users with the contact's phone (as E.164); none without a valid phone.
async fn by_phone(
    l: &Loaders,
    region: phonenumber::country::Id,
    c: &GhlContact,
) -> Result<Vec<ClubOsUser>, GatewayError> {
    match e164(c.phone.as_deref(), region) {
        Some(e164) => loaders::one(&l.clubos_by_phone, phone_key(&e164)).await,
        None => Ok(Vec::new()),
    }
}

/// Drops users the store links to a GHL contact other than `ghl_id`.
async fn unclaimed_users(
    l: &Loaders,
    users: Vec<ClubOsUser>,
    ghl_id: &str,
) -> Result<Vec<ClubOsUser>, GatewayError> {
    let links = join_all(
        users
            .iter()
            .map(|u| loaders::one(&l.link_by_clubos, u.user_id)),
    )
    .await;
    let mut out = Vec::with_capacity(users.len());
    for (u, link) in users.into_iter().zip(links) {
        match link? {
            Some(other) if other != ghl_id => {}
            _ => out.push(u),
        }
    }
    Ok(out)
}

async fn ghl_for(
    l: &Loaders,
    region: phonenumber::country::Id,
    u: &ClubOsUser,
) -> Result<Found<GhlContact>, GatewayError> {
    if let Some(id) = loaders::one(&l.link_by_clubos, u.user_id).await?
        && let Some(c) = loaders::one(&l.ghl_contact, id).await?
    {
        return Ok(Found::One(c, LinkRule::Stored));
    }
    let by_field = loaders::one(&l.ghl_by_link_field, u.user_id).await?;
    if !by_field.is_empty() {
        return Ok(Found::of(by_field, LinkRule::CustomField));
    }
    if let Some(email) = u.email.as_deref().filter(|e| !e.trim().is_empty()) {
        let found = loaders::one(&l.ghl_by_email, email_key(email)).await?;
        if !found.is_empty() {
            return Ok(Found::of(found, LinkRule::Email));
        }
    }
    let phones: Vec<String> = u.phones().filter_map(|p| e164(Some(p), region)).collect();
    for p in phones {
        let found = loaders::one(&l.ghl_by_phone, phone_key(&p)).await?;
        if !found.is_empty() {
            return Ok(Found::of(found, LinkRule::Phone));
        }
    }
    Ok(Found::Nobody)
}

impl Loaders {
    /// The Club OS user id a contact's link custom field holds, if any.
    async fn link_field_value(&self, c: &GhlContact) -> Result<Option<i64>, GatewayError> {
        let field = self.state().link_field_id().await?;
        Ok(field
            .and_then(|f| c.custom_field(f))
            .and_then(|v| v.trim().parse().ok()))
    }
}
