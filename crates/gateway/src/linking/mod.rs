//! Which GHL contact is which Club OS user.
//!
//! Each side proposes a partner by its own rules, strongest first: a link stored in the
//! gateway's store; the link mirrored in the GHL custom field (`ghl.link_field`); the
//! normalised email (any case); the phone, compared as E.164. The first rule that finds
//! anyone decides. An email or phone proposes a partner only when it is unique from both
//! sides: exactly one GHL contact and exactly one Club OS user hold it. Families share
//! emails and phones, so anything else is reported as ambiguous with every candidate,
//! never guessed between.
//!
//! A proposal becomes a link only when the partner's side, asked the same way, proposes
//! the record back. So both sides always answer the same, no record is linked to two,
//! and a weaker rule never takes a partner that a stronger one gives to someone else.

pub mod graph;
pub mod merge;

use futures_util::future::join_all;
use serde::Deserialize;

use crate::{
    cache::MatchKey,
    error::GatewayError,
    loaders::{self, Loaders, email_key, phone_key},
    phone,
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
};

/// `[linking]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkingConfig {
    /// ISO 3166 region used to read phone numbers written without a country code.
    pub phone_region: String,
}

impl Default for LinkingConfig {
    fn default() -> Self {
        Self {
            phone_region: "US".into(),
        }
    }
}

impl LinkingConfig {
    /// The region as libphonenumber's id (US when the setting is not a known region).
    pub fn region(&self) -> phonenumber::country::Id {
        self.phone_region
            .parse()
            .unwrap_or(phonenumber::country::US)
    }
}

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

/// What one side's rules propose for a record, before the other side has confirmed it.
enum Proposal<T: Partner> {
    Nobody,
    One(T, LinkRule),
    /// Several records of the other system share the value (`theirs`), or the value is
    /// unique there but other records of this system share it too (`ours`, the record
    /// itself left out).
    Several {
        theirs: Vec<T>,
        ours: Vec<T::Own>,
    },
}

/// Pairs each system's record type with the other's, so that [`Proposal`] can carry
/// candidates from both sides.
trait Partner {
    type Own;
}

impl Partner for ClubOsUser {
    type Own = GhlContact;
}

impl Partner for GhlContact {
    type Own = ClubOsUser;
}

/// How linking settled a record: the partner and the rule, the candidates of an
/// ambiguity (other system's, this system's), or nobody.
enum Decision<T: Partner> {
    Linked(T, LinkRule),
    Ambiguous(Vec<T>, Vec<T::Own>),
    Nobody,
}

impl LinkRule {
    /// Stored links and the link custom field name the partner; email and phone only
    /// suggest one.
    fn is_strong(self) -> bool {
        matches!(self, Self::Stored | Self::CustomField)
    }
}

/// Settles a proposal by asking the partner's side what it proposes: a link holds only
/// when both sides name each other. A partner that a stronger rule gives to someone
/// else is not a candidate; one whose own match names another record is ambiguous.
fn settle<T: Partner>(
    forward: Proposal<T>,
    back: Option<Proposal<T::Own>>,
    is_me: impl Fn(&T::Own) -> bool,
) -> Decision<T>
where
    T::Own: Partner<Own = T>,
{
    match forward {
        Proposal::Nobody => Decision::Nobody,
        Proposal::Several { theirs, ours } => Decision::Ambiguous(theirs, ours),
        Proposal::One(partner, rule) => match back {
            Some(Proposal::One(me, _)) if is_me(&me) => Decision::Linked(partner, rule),
            Some(Proposal::One(_, theirs)) if theirs.is_strong() => Decision::Nobody,
            Some(Proposal::One(other, _)) => Decision::Ambiguous(vec![partner], vec![other]),
            Some(Proposal::Several { theirs, .. }) => {
                let others = theirs.into_iter().filter(|o| !is_me(o)).collect();
                Decision::Ambiguous(vec![partner], others)
            }
            Some(Proposal::Nobody) | None if rule.is_strong() => Decision::Linked(partner, rule),
            Some(Proposal::Nobody) | None => Decision::Nobody,
        },
    }
}

/// Completes a person found in GHL with their Club OS record.
pub async fn from_ghl(l: &Loaders, region: phonenumber::country::Id, c: GhlContact) -> Person {
    let mut p = Person::new(LinkStatus::GhlOnly);
    match decide_for_ghl(l, region, &c).await {
        Ok(Decision::Linked(u, rule)) => {
            p.clubos = Some(u);
            p.status = LinkStatus::Linked;
            p.rule = Some(rule);
        }
        Ok(Decision::Ambiguous(users, contacts)) => {
            p.clubos_candidates = users;
            p.ghl_candidates = contacts;
            p.status = LinkStatus::Ambiguous;
        }
        Ok(Decision::Nobody) => {}
        Err(e) => {
            // Club OS (or the store) could not be asked. A stored link or the link field
            // still says who the partner is: the person stays linked, and the Club OS
            // fields carry the error.
            if let Some(rule) = strong_rule(l, &c).await {
                p.status = LinkStatus::Linked;
                p.rule = Some(rule);
            }
            p.clubos_error = Some(e);
        }
    }
    p.ghl = Some(c);
    p
}

/// The strong rule that names the contact's partner, when one does (read without asking
/// Club OS).
async fn strong_rule(l: &Loaders, c: &GhlContact) -> Option<LinkRule> {
    if let Ok(Some(_)) = loaders::one(&l.link_by_ghl, c.id.clone()).await {
        return Some(LinkRule::Stored);
    }
    matches!(l.link_field_value(c).await, Ok(Some(_))).then_some(LinkRule::CustomField)
}

/// Completes a person found in Club OS with their GHL contact.
pub async fn from_clubos(l: &Loaders, region: phonenumber::country::Id, u: ClubOsUser) -> Person {
    let mut p = Person::new(LinkStatus::ClubOsOnly);
    match decide_for_clubos(l, region, &u).await {
        Ok(Decision::Linked(c, rule)) => {
            p.ghl = Some(c);
            p.status = LinkStatus::Linked;
            p.rule = Some(rule);
        }
        Ok(Decision::Ambiguous(contacts, users)) => {
            p.ghl_candidates = contacts;
            p.clubos_candidates = users;
            p.status = LinkStatus::Ambiguous;
        }
        Ok(Decision::Nobody) => {}
        Err(e) => p.ghl_error = Some(e),
    }
    p.clubos = Some(u);
    p
}

async fn decide_for_ghl(
    l: &Loaders,
    region: phonenumber::country::Id,
    c: &GhlContact,
) -> Result<Decision<ClubOsUser>, GatewayError> {
    let forward = propose_for_ghl(l, region, c).await?;
    let back = match &forward {
        Proposal::One(u, _) => Some(propose_for_clubos(l, region, u).await?),
        _ => None,
    };
    Ok(settle(forward, back, |o: &GhlContact| o.id == c.id))
}

async fn decide_for_clubos(
    l: &Loaders,
    region: phonenumber::country::Id,
    u: &ClubOsUser,
) -> Result<Decision<GhlContact>, GatewayError> {
    let forward = propose_for_clubos(l, region, u).await?;
    let back = match &forward {
        Proposal::One(c, _) => Some(propose_for_ghl(l, region, c).await?),
        _ => None,
    };
    Ok(settle(forward, back, |o: &ClubOsUser| {
        o.user_id == u.user_id
    }))
}

/// One value two records can share: an email (lowercased) or a phone (E.164).
struct Shared {
    rule: LinkRule,
    key: MatchKey,
}

/// The values a contact can be matched by, strongest first.
fn shared_of_contact(c: &GhlContact, region: phonenumber::country::Id) -> Vec<Shared> {
    let email = c.email.as_deref().filter(|e| !e.trim().is_empty());
    let email = email.map(|e| Shared {
        rule: LinkRule::Email,
        key: email_key(e),
    });
    let phone = e164(c.phone.as_deref(), region).map(|p| Shared {
        rule: LinkRule::Phone,
        key: phone_key(&p),
    });
    email.into_iter().chain(phone).collect()
}

/// The values a user can be matched by, strongest first (email, then each phone).
fn shared_of_user(u: &ClubOsUser, region: phonenumber::country::Id) -> Vec<Shared> {
    let email = u.email.as_deref().filter(|e| !e.trim().is_empty());
    let email = email.map(|e| Shared {
        rule: LinkRule::Email,
        key: email_key(e),
    });
    let mut out: Vec<Shared> = email.into_iter().collect();
    for p in u.phones().filter_map(|p| e164(Some(p), region)) {
        let key = phone_key(&p);
        if !out.iter().any(|s| s.key == key) {
            out.push(Shared {
                rule: LinkRule::Phone,
                key,
            });
        }
    }
    out
}

/// Both systems' records holding one shared value.
async fn holders(
    l: &Loaders,
    s: &Shared,
) -> Result<(Vec<GhlContact>, Vec<ClubOsUser>), GatewayError> {
    let (contacts, users) = match s.rule {
        LinkRule::Email => futures_util::join!(
            loaders::one(&l.ghl_by_email, s.key.clone()),
            loaders::one(&l.clubos_by_email, s.key.clone())
        ),
        _ => futures_util::join!(
            loaders::one(&l.ghl_by_phone, s.key.clone()),
            loaders::one(&l.clubos_by_phone, s.key.clone())
        ),
    };
    Ok((contacts?, users?))
}

/// What the contact's own rules propose: its stored link, its link field, then the
/// first of its email and phone that any Club OS user holds. A shared value proposes
/// a user only when exactly one user and exactly one contact (this one) hold it.
async fn propose_for_ghl(
    l: &Loaders,
    region: phonenumber::country::Id,
    c: &GhlContact,
) -> Result<Proposal<ClubOsUser>, GatewayError> {
    let (stored, field) = futures_util::join!(
        loaders::one(&l.link_by_ghl, c.id.clone()),
        l.link_field_value(c)
    );
    let stored = stored?.map(|link| link.clubos_user_id);
    for (id, rule) in [(stored, LinkRule::Stored), (field?, LinkRule::CustomField)] {
        if let Some(id) = id
            && let Some(u) = loaders::one(&l.clubos_user, id).await?
        {
            return Ok(Proposal::One(u, rule));
        }
    }
    for s in shared_of_contact(c, region) {
        let (mut contacts, mut users) = holders(l, &s).await?;
        if users.is_empty() {
            continue;
        }
        contacts.retain(|o| o.id != c.id);
        if users.len() == 1 && contacts.is_empty() {
            return Ok(Proposal::One(users.remove(0), s.rule));
        }
        let users = unclaimed_users(l, users, &c.id).await?;
        if users.is_empty() {
            continue;
        }
        return Ok(Proposal::Several {
            theirs: users,
            ours: contacts,
        });
    }
    Ok(Proposal::Nobody)
}

/// What the user's own rules propose: the stored link, the contacts whose link field
/// names the user (other than those the store links elsewhere), then the first of the
/// user's email and phones that any GHL contact holds, unique from both sides as in
/// [`propose_for_ghl`].
async fn propose_for_clubos(
    l: &Loaders,
    region: phonenumber::country::Id,
    u: &ClubOsUser,
) -> Result<Proposal<GhlContact>, GatewayError> {
    // The stored link first: with one, GHL is not searched for the link field.
    if let Some(id) = loaders::one(&l.link_by_clubos, u.user_id).await?
        && let Some(c) = loaders::one(&l.ghl_contact, id).await?
    {
        return Ok(Proposal::One(c, LinkRule::Stored));
    }
    let by_field = loaders::one(&l.ghl_by_link_field, u.user_id).await?;
    let mut kept = not_stored_elsewhere(l, by_field, u.user_id).await?;
    match kept.len() {
        0 => {}
        1 => return Ok(Proposal::One(kept.remove(0), LinkRule::CustomField)),
        _ => {
            return Ok(Proposal::Several {
                theirs: kept,
                ours: Vec::new(),
            });
        }
    }
    for s in shared_of_user(u, region) {
        let (mut contacts, mut users) = holders(l, &s).await?;
        if contacts.is_empty() {
            continue;
        }
        users.retain(|o| o.user_id != u.user_id);
        if contacts.len() == 1 && users.is_empty() {
            return Ok(Proposal::One(contacts.remove(0), s.rule));
        }
        let contacts = unclaimed_contacts(l, contacts, u.user_id).await?;
        if contacts.is_empty() {
            continue;
        }
        return Ok(Proposal::Several {
            theirs: contacts,
            ours: users,
        });
    }
    Ok(Proposal::Nobody)
}

/// Makes the lookups that linking these contacts starts with, in one batch per kind for
/// all of them. Stored links first: a contact with one links by it, so what it needs is
/// its partner and the partner's own stored link. The others need who holds each email
/// (both systems) and phone (GHL), and which contacts' link field names the users their
/// link fields name. Linking should wait for it: a loader does not know keys still in
/// flight, so a lookup that raced it would be fetched twice. Costs nothing for fresh
/// cache entries.
pub async fn warm_for_contacts(l: &Loaders, region: phonenumber::country::Id, cs: &[GhlContact]) {
    let ids: Vec<String> = cs.iter().map(|c| c.id.clone()).collect();
    loaders::warm(&l.link_by_ghl, ids).await;
    let mut partners = Vec::new();
    let mut unlinked = Vec::new();
    for c in cs {
        match loaders::one(&l.link_by_ghl, c.id.clone()).await {
            Ok(Some(link)) => partners.push(link.clubos_user_id),
            _ => unlinked.push(c.clone()),
        }
    }
    let mut emails = Vec::new();
    let mut phones = Vec::new();
    for s in unlinked.iter().flat_map(|c| shared_of_contact(c, region)) {
        match s.rule {
            LinkRule::Email => emails.push(s.key),
            _ => phones.push(s.key),
        }
    }
    let fields = async {
        let mut ids = Vec::new();
        for c in &unlinked {
            if let Ok(Some(id)) = l.link_field_value(c).await {
                ids.push(id);
            }
        }
        loaders::warm(&l.ghl_by_link_field, ids).await;
    };
    futures_util::join!(
        loaders::warm(&l.ghl_by_email, emails.clone()),
        loaders::warm(&l.clubos_by_email, emails),
        loaders::warm(&l.ghl_by_phone, phones),
        fields,
        loaders::warm(&l.clubos_user, partners.clone()),
        loaders::warm(&l.link_by_clubos, partners),
    );
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
    if let Ok(Some(link)) = loaders::one(&l.link_by_ghl, c.id.clone()).await {
        return Some(link.clubos_user_id);
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

/// Drops users the store links to a GHL contact other than `ghl_id`: a stronger rule
/// gives them to someone else, so they are no candidates of this contact.
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

/// Drops contacts the store links to a user other than `user_id`.
async fn not_stored_elsewhere(
    l: &Loaders,
    contacts: Vec<GhlContact>,
    user_id: i64,
) -> Result<Vec<GhlContact>, GatewayError> {
    let links = join_all(
        contacts
            .iter()
            .map(|c| loaders::one(&l.link_by_ghl, c.id.clone())),
    )
    .await;
    let mut out = Vec::with_capacity(contacts.len());
    for (c, link) in contacts.into_iter().zip(links) {
        match link? {
            Some(other) if other.clubos_user_id != user_id => {}
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Drops contacts that a stronger rule gives to a user other than `user_id`: a stored
/// link, or a link field naming someone else.
async fn unclaimed_contacts(
    l: &Loaders,
    contacts: Vec<GhlContact>,
    user_id: i64,
) -> Result<Vec<GhlContact>, GatewayError> {
    let mut out = Vec::with_capacity(contacts.len());
    for c in not_stored_elsewhere(l, contacts, user_id).await? {
        match l.link_field_value(&c).await? {
            Some(other) if other != user_id => {}
            _ => out.push(c),
        }
    }
    Ok(out)
}

impl Loaders {
    /// The Club OS user id a contact's link custom field holds, if any.
    async fn link_field_value(&self, c: &GhlContact) -> Result<Option<i64>, GatewayError> {
        let field = self.readers().link_field_id().await?;
        Ok(field
            .and_then(|f| c.custom_field(f))
            .and_then(|v| v.trim().parse().ok()))
    }
}
