//! Which GHL contact is which Club OS user: the link mirrored in the GHL custom field
//! first, then the email (any case), then the phone (compared as E.164). Two candidates
//! are reported as ambiguous, never guessed between.

use serde_json::json;

use crate::{
    error::{GatewayError, System},
    phone,
    state::AppState,
    upstream::{
        clubos::{ClubOsUser, UserSearch},
        ghl::models::{FilterOp, GhlContact, SearchFilter, SearchRequest},
    },
};

/// How the two systems' records of a person relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Linked,
    GhlOnly,
    ClubOsOnly,
    Ambiguous,
}

/// A person as far as linking found them. When the other system could not be asked,
/// its error is kept so that the schema can report it at the right path.
#[derive(Debug, Clone)]
pub struct Person {
    pub ghl: Option<GhlContact>,
    pub clubos: Option<ClubOsUser>,
    pub status: LinkStatus,
    pub clubos_candidates: Vec<ClubOsUser>,
    pub ghl_candidates: Vec<GhlContact>,
    pub ghl_error: Option<GatewayError>,
    pub clubos_error: Option<GatewayError>,
}

enum Found<T> {
    None,
    One(T),
    Many(Vec<T>),
}

impl<T> Found<T> {
    fn from_vec(mut v: Vec<T>) -> Self {
        match v.len() {
            0 => Self::None,
            1 => Self::One(v.remove(0)),
            _ => Self::Many(v),
        }
    }
}

/// Completes a person found in GHL with their Club OS record.
pub async fn from_ghl(state: &AppState, contact: GhlContact) -> Person {
    let mut p = Person {
        ghl: None,
        clubos: None,
        status: LinkStatus::GhlOnly,
        clubos_candidates: Vec::new(),
        ghl_candidates: Vec::new(),
        ghl_error: None,
        clubos_error: None,
    };
    match clubos_for(state, &contact).await {
        Ok(Found::One(u)) => {
            p.clubos = Some(u);
            p.status = LinkStatus::Linked;
        }
        Ok(Found::Many(us)) => {
            p.clubos_candidates = us;
            p.status = LinkStatus::Ambiguous;
        }
        Ok(Found::None) => {}
        Err(e) => p.clubos_error = Some(e),
    }
    p.ghl = Some(contact);
    p
}

/// Completes a person found in Club OS with their GHL contact.
pub async fn from_clubos(state: &AppState, user: ClubOsUser) -> Person {
    let mut p = Person {
        ghl: None,
        clubos: None,
        status: LinkStatus::ClubOsOnly,
        clubos_candidates: Vec::new(),
        ghl_candidates: Vec::new(),
        ghl_error: None,
        clubos_error: None,
    };
    match ghl_for(state, &user).await {
        Ok(Found::One(c)) => {
            p.ghl = Some(c);
            p.status = LinkStatus::Linked;
        }
        Ok(Found::Many(cs)) => {
            p.ghl_candidates = cs;
            p.status = LinkStatus::Ambiguous;
        }
        Ok(Found::None) => {}
        Err(e) => p.ghl_error = Some(e),
    }
    p.clubos = Some(user);
    p
}

async fn clubos_for(state: &AppState, c: &GhlContact) -> Result<Found<ClubOsUser>, GatewayError> {
    let err = |e| GatewayError::upstream(System::ClubOs, &e);
    let field = state.link_field_id().await?;
    if let Some(linked) = field
        .and_then(|f| c.custom_field(f))
        .and_then(|v| v.trim().parse::<i64>().ok())
        && let Some(u) = state.clubos.get_user(linked).await.map_err(err)?
    {
        return Ok(Found::One(u));
    }
    if let Some(email) = c.email.as_deref().filter(|e| !e.is_empty()) {
        let page = state
            .clubos
            .search_users(&UserSearch {
                email: Some(email.to_owned()),
                ..UserSearch::default()
            })
            .await
            .map_err(err)?;
        if !page.content.is_empty() {
            return Ok(Found::from_vec(page.content));
        }
    }
    if let Some(digits) = c
        .phone
        .as_deref()
        .and_then(|p| phone::to_national_digits(p, state.phone_region))
    {
        let page = state
            .clubos
            .search_users(&UserSearch {
                phone: Some(digits),
                ..UserSearch::default()
            })
            .await
            .map_err(err)?;
        return Ok(Found::from_vec(page.content));
    }
    Ok(Found::None)
}

async fn ghl_for(state: &AppState, u: &ClubOsUser) -> Result<Found<GhlContact>, GatewayError> {
    let err = |e| GatewayError::upstream(System::Ghl, &e);
    let search = |filter: SearchFilter| SearchRequest {
        page_limit: 10,
        filters: vec![filter],
        ..SearchRequest::default()
    };
    if let Some(field) = state.link_field_id().await? {
        let r = state
            .ghl
            .search_contacts(&search(SearchFilter::cond(
                &format!("customFields.{field}"),
                FilterOp::Eq,
                json!(u.user_id.to_string()),
            )))
            .await
            .map_err(err)?;
        if !r.contacts.is_empty() {
            return Ok(Found::from_vec(r.contacts));
        }
    }
    if let Some(email) = u.email.as_deref().filter(|e| !e.is_empty()) {
        let r = state
            .ghl
            .search_contacts(&search(SearchFilter::cond("email", FilterOp::Eq, email)))
            .await
            .map_err(err)?;
        if !r.contacts.is_empty() {
            return Ok(Found::from_vec(r.contacts));
        }
    }
    for p in u.phones() {
        if let Some(e164) = phone::to_e164(p, state.phone_region)
            && let Some(c) = state
                .ghl
                .find_duplicate(None, Some(&e164))
                .await
                .map_err(err)?
        {
            return Ok(Found::One(c));
        }
    }
    Ok(Found::None)
}
