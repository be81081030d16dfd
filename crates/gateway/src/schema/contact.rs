//! `Contact`, the merged person, and what hangs off them.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result, SimpleObject};

use super::{
    activity::{Appointment, Note, Source, Task},
    identity::StoredLink,
    ids::ContactRef,
};
use crate::{
    linking::{
        self, Person,
        merge::{self, Merged, Side},
    },
    loaders::{self, Loaders},
    phone,
    store::RecordKind,
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
    /// More than one record in the other system matches; see the candidates.
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

/// The rule that linked the two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum LinkRule {
    /// A link stored by the gateway (`linkContacts`, or a create through the gateway).
    Stored,
    /// The Club OS user id held in the GHL link custom field.
    CustomField,
    /// The same email, ignoring case.
    Email,
    /// The same phone number, compared as E.164.
    Phone,
}

impl From<linking::LinkRule> for LinkRule {
    fn from(r: linking::LinkRule) -> Self {
        match r {
            linking::LinkRule::Stored => Self::Stored,
            linking::LinkRule::CustomField => Self::CustomField,
            linking::LinkRule::Email => Self::Email,
            linking::LinkRule::Phone => Self::Phone,
        }
    }
}

/// Where a membership stands, from Club OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum MembershipStatus {
    /// A paying member in good standing.
    Active,
    /// A member who asked to cancel; still active until the agreement ends.
    PendingCancel,
    /// A former or suspended member.
    Inactive,
    /// Not a member (yet): a lead or guest.
    Prospect,
}

impl MembershipStatus {
    /// Reads Club OS's membership fields.
    pub fn of(u: &ClubOsUser) -> Self {
        match u.membership_status.as_deref() {
            Some("ACTIVE") => Self::Active,
            Some("PENDING_CANCEL") => Self::PendingCancel,
            Some("INACTIVE") => Self::Inactive,
            _ if u.role.as_ref().is_some_and(|r| r.is_prospect()) => Self::Prospect,
            None => Self::Prospect,
            Some(_) => Self::Inactive,
        }
    }
}

/// A person's membership at the club.
#[derive(Debug, Clone, SimpleObject)]
pub struct Membership {
    /// Where the membership stands.
    pub status: MembershipStatus,
    /// The plan, e.g. `Gold`; null for prospects.
    #[graphql(name = "type")]
    pub kind: Option<String>,
    /// Club OS follow-up status, e.g. `Member - Pending Cancel`.
    pub followup_status: Option<String>,
    /// When the person joined (ISO-8601).
    pub join_date: Option<String>,
}

/// A club location.
#[derive(Debug, Clone, SimpleObject)]
pub struct Location {
    /// Club OS location id.
    pub id: ID,
    /// Location name.
    pub name: String,
    /// IANA time zone the location keeps.
    pub time_zone: String,
}

/// A postal address.
#[derive(Debug, Clone, SimpleObject)]
pub struct Address {
    /// Street line.
    pub line1: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or region code.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
}

/// A field on which GHL and Club OS disagree.
#[derive(Debug, Clone, SimpleObject)]
pub struct FieldConflict {
    /// The `Contact` field, e.g. `lastName`.
    pub field: String,
    /// GHL's value.
    pub ghl_value: String,
    /// Club OS's value.
    pub club_os_value: String,
    /// The system whose value the merged field shows.
    pub chosen: Source,
}

/// A person: one merged record over their GHL contact and Club OS user.
#[derive(Debug, Clone)]
pub struct Contact {
    person: Person,
    merged: Merged,
    region: phonenumber::country::Id,
}

impl Contact {
    pub fn new(person: Person, cfg: &merge::MergeConfig, region: phonenumber::country::Id) -> Self {
        let merged = merge::merge(&person, cfg, region);
        Self {
            person,
            merged,
            region,
        }
    }

    /// The link status, for filtering lists.
    pub fn current_link_status(&self) -> LinkStatus {
        self.person.status.into()
    }

    /// The membership status, for filtering lists (`None` without a Club OS record).
    pub fn current_membership_status(&self) -> Option<MembershipStatus> {
        self.person.clubos.as_ref().map(MembershipStatus::of)
    }

    /// The global id.
    pub fn global_id(&self) -> ID {
        let r = match (&self.person.ghl, &self.person.clubos) {
            (Some(c), _) => ContactRef::Ghl(c.id.clone()),
            (None, Some(u)) => ContactRef::ClubOs(u.user_id),
            (None, None) => ContactRef::ClubOs(0),
        };
        ID(r.encode())
    }

    /// The GHL contact id, when the person has one.
    pub fn ghl_contact_id(&self) -> Option<String> {
        self.person.ghl.as_ref().map(|c| c.id.clone())
    }

    /// The Club OS user id, when the person has a Club OS record (and it could be read).
    pub fn clubos_user_id(&self) -> Option<i64> {
        self.person
            .clubos_error
            .is_none()
            .then(|| self.person.clubos.as_ref().map(|u| u.user_id))
            .flatten()
    }

    fn clubos(&self) -> Result<Option<&ClubOsUser>> {
        match &self.person.clubos_error {
            Some(e) => Err(e.extend()),
            None => Ok(self.person.clubos.as_ref()),
        }
    }
}

fn distinct(
    values: impl IntoIterator<Item = Option<String>>,
    same: fn(&str, &str) -> bool,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.into_iter().flatten() {
        let v = v.trim().to_owned();
        if !v.is_empty() && !out.iter().any(|o| same(o, &v)) {
            out.push(v);
        }
    }
    out
}

/// A person: one merged record over their GHL contact and Club OS user. Which system
/// wins each field is configuration (`[merge]`); every disagreement is in `conflicts`.
#[Object]
impl Contact {
    /// Opaque global id; `contact(id:)` and `node(id:)` accept it.
    pub async fn id(&self) -> ID {
        self.global_id()
    }

    /// How the person's records in GHL and Club OS relate.
    async fn link_status(&self) -> LinkStatus {
        self.person.status.into()
    }

    /// The rule that linked the records; null unless `LINKED`.
    async fn linked_by(&self) -> Option<LinkRule> {
        self.person.rule.map(Into::into)
    }

    /// The link the gateway stores for this person: how and when it was confirmed. Null
    /// when none is stored; `linkedBy` then says which rule matched the records at this
    /// read (the link sweep stores such matches).
    async fn stored_link(&self, ctx: &Context<'_>) -> Result<Option<StoredLink>> {
        let Some(c) = &self.person.ghl else {
            return Ok(None);
        };
        let l = ctx.data::<Loaders>()?;
        let link = loaders::one(&l.link_by_ghl, c.id.clone())
            .await
            .map_err(|e| e.extend())?;
        Ok(link.map(StoredLink::from))
    }

    /// Given name.
    async fn first_name(&self) -> Option<&str> {
        self.merged.first_name.as_deref()
    }

    /// Family name.
    async fn last_name(&self) -> Option<&str> {
        self.merged.last_name.as_deref()
    }

    /// `firstName lastName`.
    async fn name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.merged.first_name, &self.merged.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Primary email address.
    async fn email(&self) -> Option<&str> {
        self.merged.email.as_deref()
    }

    /// Every email either system holds, primary first, without case duplicates.
    async fn emails(&self) -> Vec<String> {
        distinct(
            [
                self.merged.email.clone(),
                self.person.ghl.as_ref().and_then(|c| c.email.clone()),
                self.person.clubos.as_ref().and_then(|u| u.email.clone()),
            ],
            |a, b| a.eq_ignore_ascii_case(b),
        )
    }

    /// Primary phone number, E.164 (`+12125550123`).
    async fn phone(&self) -> Option<&str> {
        self.merged.phone.as_deref()
    }

    /// Every phone either system holds, E.164, primary first.
    async fn phones(&self) -> Vec<String> {
        let ghl = self
            .person
            .ghl
            .as_ref()
            .and_then(|c| c.phone.as_deref())
            .and_then(|p| phone::to_e164(p, self.region));
        let clubos: Vec<Option<String>> = self
            .person
            .clubos
            .iter()
            .flat_map(|u| u.phones())
            .map(|p| phone::to_e164(p, self.region))
            .collect();
        distinct(
            std::iter::once(self.merged.phone.clone())
                .chain(std::iter::once(ghl))
                .chain(clubos),
            |a, b| a == b,
        )
    }

    /// Postal address.
    async fn address(&self) -> Option<Address> {
        let m = &self.merged;
        (m.address1.is_some() || m.city.is_some()).then(|| Address {
            line1: m.address1.clone(),
            city: m.city.clone(),
            state: m.state.clone(),
            postal_code: m.postal_code.clone(),
        })
    }

    /// Date of birth, `YYYY-MM-DD`.
    async fn date_of_birth(&self) -> Option<&str> {
        self.merged.date_of_birth.as_deref()
    }

    /// GHL tags (lowercase).
    async fn tags(&self) -> Vec<String> {
        self.person
            .ghl
            .as_ref()
            .map(|c| c.tags.clone())
            .unwrap_or_default()
    }

    /// The membership, from Club OS; null without a Club OS record.
    async fn membership(&self) -> Result<Option<Membership>> {
        Ok(self.clubos()?.map(|u| Membership {
            status: MembershipStatus::of(u),
            kind: u.membership_type.clone(),
            followup_status: u.membership_followup_status.clone(),
            join_date: u.join_date.clone(),
        }))
    }

    /// The home club location, from Club OS.
    async fn home_location(&self, ctx: &Context<'_>) -> Result<Option<Location>> {
        let Some(u) = self.clubos()? else {
            return Ok(None);
        };
        let l = ctx.data::<Loaders>()?;
        let all = loaders::one(&l.clubos_locations, ())
            .await
            .map_err(|e| e.extend())?;
        let loc = all.into_iter().find(|loc| loc.location_id == u.location_id);
        Ok(loc.map(|loc| Location {
            id: ID(loc.location_id.to_string()),
            name: loc.name,
            time_zone: loc.time_zone,
        }))
    }

    /// When the person joined the club (ISO-8601), from Club OS.
    async fn join_date(&self) -> Result<Option<String>> {
        Ok(self.clubos()?.and_then(|u| u.join_date.clone()))
    }

    /// Club access barcode, from Club OS.
    async fn barcode(&self) -> Result<Option<String>> {
        Ok(self.clubos()?.and_then(|u| u.barcode.clone()))
    }

    /// Fields on which GHL and Club OS disagree (ignoring case and phone format).
    async fn conflicts(&self) -> Vec<FieldConflict> {
        self.merged
            .conflicts
            .iter()
            .map(|c| FieldConflict {
                field: c.field.to_owned(),
                ghl_value: c.ghl.clone(),
                club_os_value: c.clubos.clone(),
                chosen: match c.chosen {
                    Side::Ghl => Source::Ghl,
                    Side::Clubos => Source::ClubOs,
                },
            })
            .collect()
    }

    /// The GHL contact as GHL holds it; null when there is none.
    async fn ghl(&self) -> Result<Option<GhlView>> {
        if let Some(e) = &self.person.ghl_error {
            return Err(e.extend());
        }
        Ok(self.person.ghl.clone().map(GhlView::from))
    }

    /// When contactgraph last stored this person's records from their systems: the older
    /// of the two (ISO-8601). Null when neither is stored (the read model is off, or the
    /// records were read without being stored).
    async fn synced_at(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let l = ctx.data::<Loaders>()?;
        let ghl = async {
            match &self.person.ghl {
                Some(c) => l.synced_at((RecordKind::GhlContact, c.id.clone())).await,
                None => None,
            }
        };
        let clubos = async {
            match &self.person.clubos {
                Some(u) => {
                    l.synced_at((RecordKind::ClubOsUser, u.user_id.to_string()))
                        .await
                }
                None => None,
            }
        };
        let (ghl, clubos) = futures_util::join!(ghl, clubos);
        Ok(ghl
            .into_iter()
            .chain(clubos)
            .min()
            .map(crate::clock::iso_ms))
    }

    /// The Club OS user as Club OS holds them; null when there is none.
    async fn club_os(&self) -> Result<Option<ClubOsView>> {
        Ok(self.clubos()?.map(|u| ClubOsView::new(u, self.region)))
    }

    /// When `linkStatus` is `AMBIGUOUS`: the Club OS users that could be this person (those
    /// sharing the email or phone linking went by). A match counts only when it is unique
    /// from both sides, so a household sharing an email shows here rather than being
    /// guessed between.
    async fn club_os_candidates(&self) -> Vec<ClubOsView> {
        self.person
            .clubos_candidates
            .iter()
            .map(|u| ClubOsView::new(u, self.region))
            .collect()
    }

    /// When `linkStatus` is `AMBIGUOUS`: the GHL contacts that could be this person (for a
    /// GHL contact: the other contacts sharing the email or phone linking went by).
    async fn ghl_candidates(&self) -> Vec<GhlView> {
        self.person
            .ghl_candidates
            .iter()
            .cloned()
            .map(GhlView::from)
            .collect()
    }

    /// Open and completed tasks, from GHL (Club OS documents no task API).
    async fn tasks(&self, ctx: &Context<'_>) -> Result<Vec<Task>> {
        let Some(id) = self.ghl_contact_id() else {
            return Ok(Vec::new());
        };
        let l = ctx.data::<Loaders>()?;
        let tasks = loaders::one(&l.ghl_tasks, id)
            .await
            .map_err(|e| e.extend())?;
        Ok(tasks.into_iter().map(Task::from).collect())
    }

    /// Notes, newest first, from GHL (Club OS documents no note API).
    async fn notes(&self, ctx: &Context<'_>) -> Result<Vec<Note>> {
        let Some(id) = self.ghl_contact_id() else {
            return Ok(Vec::new());
        };
        let l = ctx.data::<Loaders>()?;
        let notes = loaders::one(&l.ghl_notes, id)
            .await
            .map_err(|e| e.extend())?;
        Ok(notes.into_iter().map(Note::from).collect())
    }

    /// Appointments from both systems (GHL calendar events and Club OS events), by start
    /// time; each says which system it comes from.
    async fn appointments(&self, ctx: &Context<'_>) -> Result<Vec<Appointment>> {
        let l = ctx.data::<Loaders>()?;
        let ghl = async {
            match self.ghl_contact_id() {
                Some(id) => loaders::one(&l.ghl_appointments, id).await,
                None => Ok(Vec::new()),
            }
        };
        let clubos = async {
            match self.clubos()? {
                Some(u) => loaders::one(&l.clubos_events, u.user_id)
                    .await
                    .map_err(|e| e.extend()),
                None => Ok(Vec::new()),
            }
        };
        let (ghl, clubos) = futures_util::join!(ghl, clubos);
        let mut all: Vec<Appointment> = ghl
            .map_err(|e| e.extend())?
            .into_iter()
            .map(Appointment::from)
            .chain(
                clubos?
                    .into_iter()
                    .zip(std::iter::repeat(self.clubos()?.map(|u| u.user_id)))
                    .map(|(e, user)| Appointment::of_event(e, user.unwrap_or_default())),
            )
            .collect();
        all.sort_by(|a, b| a.start_time.cmp(&b.start_time));
        Ok(all)
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
    /// Membership status as Club OS reports it (`ACTIVE`, `INACTIVE`, `PENDING_CANCEL`).
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
    /// When Club OS last changed the user (ISO-8601).
    pub updated_date: Option<String>,
}

impl ClubOsView {
    pub fn new(u: &ClubOsUser, region: phonenumber::country::Id) -> Self {
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
            updated_date: u.updated_date.clone(),
        }
    }
}
