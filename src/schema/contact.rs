//! `Contact`, the merged person, and the two systems' own views of them.

use async_graphql::{Enum, ErrorExtensions, ID, Object, Result, SimpleObject};

use super::ids::ContactRef;
use crate::{
    linking::{self, Person},
    phone,
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
};

/// How a person's records in the two systems relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum LinkStatus {
    /// One GHL contact and one Club OS user, known to be the same person.
    Linked,
    /// Only a GHL contact (a lead the club has not signed up).
    GhlOnly,
    /// Only a Club OS user (a member the CRM does not know).
    ClubOsOnly,
    /// More than one record in the other system matches; see `linkCandidates`.
    Ambiguous,
}

impl From<linking::LinkStatus> for LinkStatus {
    fn from(s: linking::LinkStatus) -> Self {
        match s {
            linking::LinkStatus::Linked => Self::Linked,
            linking::LinkStatus::GhlOnly => Self::GhlOnly,
            linking::LinkStatus::ClubOsOnly => Self::ClubOsOnly,
            linking::LinkStatus::Ambiguous => Self::Ambiguous,
        }
    }
}

/// A person: one merged record over their GHL contact and Club OS user.
#[derive(Debug, Clone)]
pub struct Contact {
    person: Person,
    region: phonenumber::country::Id,
}

impl Contact {
    pub fn new(person: Person, region: phonenumber::country::Id) -> Self {
        Self { person, region }
    }

    fn clubos_phone(&self) -> Option<String> {
        self.person
            .clubos
            .as_ref()
            .and_then(|u| u.phones().find_map(|p| phone::to_e164(p, self.region)))
    }
}

/// The first value that is present and not blank.
fn first_of(values: [Option<&String>; 2]) -> Option<String> {
    values
        .into_iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
        .cloned()
}

/// A person: one merged record over their GHL contact and Club OS user. Names come
/// from Club OS (the member system of record) when linked; email and phone from GHL
/// (the CRM that messages people); each falls back to the other system.
#[Object]
impl Contact {
    /// Opaque global id; `contact(id:)` and `node(id:)` accept it.
    async fn id(&self) -> ID {
        let r = match (&self.person.ghl, &self.person.clubos) {
            (Some(c), _) => ContactRef::Ghl(c.id.clone()),
            (None, Some(u)) => ContactRef::ClubOs(u.user_id),
            (None, None) => ContactRef::ClubOs(0),
        };
        ID(r.encode())
    }

    /// How the person's records in GHL and Club OS relate.
    async fn link_status(&self) -> LinkStatus {
        self.person.status.into()
    }

    /// Given name.
    async fn first_name(&self) -> Option<String> {
        first_of([
            self.person
                .clubos
                .as_ref()
                .and_then(|u| u.first_name.as_ref()),
            self.person.ghl.as_ref().and_then(|c| c.first_name.as_ref()),
        ])
    }

    /// Family name.
    async fn last_name(&self) -> Option<String> {
        first_of([
            self.person
                .clubos
                .as_ref()
                .and_then(|u| u.last_name.as_ref()),
            self.person.ghl.as_ref().and_then(|c| c.last_name.as_ref()),
        ])
    }

    /// Primary email address.
    async fn email(&self) -> Option<String> {
        first_of([
            self.person.ghl.as_ref().and_then(|c| c.email.as_ref()),
            self.person.clubos.as_ref().and_then(|u| u.email.as_ref()),
        ])
    }

    /// Primary phone number, E.164 (`+12125550123`).
    async fn phone(&self) -> Option<String> {
        first_of([
            self.person.ghl.as_ref().and_then(|c| c.phone.as_ref()),
            self.clubos_phone().as_ref(),
        ])
    }

    /// The GHL contact as GHL holds it; null when there is none, or with an error when
    /// GHL could not be asked.
    async fn ghl(&self) -> Result<Option<GhlView>> {
        if let Some(e) = &self.person.ghl_error {
            return Err(e.extend());
        }
        Ok(self.person.ghl.clone().map(GhlView::from))
    }

    /// The Club OS user as Club OS holds them; null when there is none, or with an
    /// error when Club OS could not be asked.
    async fn club_os(&self) -> Result<Option<ClubOsView>> {
        if let Some(e) = &self.person.clubos_error {
            return Err(e.extend());
        }
        Ok(self
            .person
            .clubos
            .as_ref()
            .map(|u| ClubOsView::new(u, self.region)))
    }

    /// When `linkStatus` is `AMBIGUOUS`: every Club OS user that matched.
    async fn club_os_candidates(&self) -> Vec<ClubOsView> {
        self.person
            .clubos_candidates
            .iter()
            .map(|u| ClubOsView::new(u, self.region))
            .collect()
    }

    /// When `linkStatus` is `AMBIGUOUS`: every GHL contact that matched.
    async fn ghl_candidates(&self) -> Vec<GhlView> {
        self.person
            .ghl_candidates
            .iter()
            .cloned()
            .map(GhlView::from)
            .collect()
    }
}

/// A GHL contact, field for field as GHL returns it.
#[derive(Debug, Clone, SimpleObject)]
pub struct GhlView {
    /// GHL contact id.
    pub id: ID,
    /// GHL location (sub-account) id.
    pub location_id: String,
    /// Given name in GHL.
    pub first_name: Option<String>,
    /// Family name in GHL.
    pub last_name: Option<String>,
    /// Email in GHL.
    pub email: Option<String>,
    /// Phone in GHL, E.164.
    pub phone: Option<String>,
    /// Tags, lowercase as GHL stores them.
    pub tags: Vec<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// When GHL created the contact (ISO-8601).
    pub date_added: Option<String>,
    /// When GHL last changed the contact (ISO-8601).
    pub date_updated: Option<String>,
}

impl From<GhlContact> for GhlView {
    fn from(c: GhlContact) -> Self {
        Self {
            id: ID(c.id),
            location_id: c.location_id,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            phone: c.phone,
            tags: c.tags,
            date_of_birth: c.date_of_birth,
            date_added: c.date_added,
            date_updated: c.date_updated,
        }
    }
}

/// A Club OS user (member or prospect), field for field as Club OS returns them.
#[derive(Debug, Clone, SimpleObject)]
pub struct ClubOsView {
    /// Club OS user id.
    pub user_id: ID,
    /// Given name in Club OS.
    pub first_name: Option<String>,
    /// Family name in Club OS.
    pub last_name: Option<String>,
    /// Email in Club OS.
    pub email: Option<String>,
    /// The first phone Club OS holds, as stored there (digits only).
    pub phone_digits: Option<String>,
    /// The same phone in E.164.
    pub phone: Option<String>,
    /// `Member` or `Prospect`.
    pub role: Option<String>,
    /// Membership status (`ACTIVE`, `INACTIVE`, `PENDING_CANCEL`); null for prospects.
    pub membership_status: Option<String>,
    /// The membership plan, e.g. `Gold`.
    pub membership_type: Option<String>,
    /// Club OS follow-up status, e.g. `Member - Pending Cancel`.
    pub followup_status: Option<String>,
    /// Home club location id.
    pub home_location_id: i64,
    /// Access barcode.
    pub barcode: Option<String>,
    /// When the person joined (ISO-8601).
    pub join_date: Option<String>,
}

impl ClubOsView {
    fn new(u: &ClubOsUser, region: phonenumber::country::Id) -> Self {
        let digits = u.phones().next().map(str::to_owned);
        Self {
            user_id: ID(u.user_id.to_string()),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            phone: digits.as_deref().and_then(|d| phone::to_e164(d, region)),
            phone_digits: digits,
            role: u.role.as_ref().map(|r| r.name.clone()),
            membership_status: u.membership_status.clone(),
            membership_type: u.membership_type.clone(),
            followup_status: u.membership_followup_status.clone(),
            home_location_id: u.location_id,
            barcode: u.barcode.clone(),
            join_date: u.join_date.clone(),
        }
    }
}
