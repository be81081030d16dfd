//! Which fields a change carries to the other system: per field, the system that is its
//! authority and whether changes propagate (`[sync.fields]`), and the pure comparison that
//! turns a linked pair into the write that would bring the other side in line (GHL from
//! Club OS, Club OS from GHL).
//!
//! Propagation compares values, never events: a field is written only when GHL holds a
//! different value (emails ignoring case, phones as E.164, tags as GHL lowercases them).
//! So the echo of a write contactgraph made (the webhook GHL sends, the next poll that
//! sees the user again) finds nothing to write, and sync cannot loop.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{
    phone,
    upstream::{
        clubos::{ClubOsUser, UserPatch},
        ghl::models::{ContactPatch, CustomFieldWrite, GhlContact},
    },
};

/// Which system's value wins a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Authority {
    /// Club OS's value is carried to GHL.
    Clubos,
    /// GHL's value stands; Club OS changes do not reach GHL.
    Ghl,
    /// The record changed last wins (Club OS `updatedDate` against GHL `dateUpdated`).
    Newest,
}

impl Authority {
    /// As configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clubos => "clubos",
            Self::Ghl => "ghl",
            Self::Newest => "newest",
        }
    }
}

/// One field's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    pub authority: Authority,
    pub propagate: bool,
}

impl FieldRule {
    const fn new(authority: Authority, propagate: bool) -> Self {
        Self {
            authority,
            propagate,
        }
    }
}

/// `[sync.fields]`: the rule of each field sync knows. Unknown fields are refused at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMap {
    pub first_name: FieldRule,
    pub last_name: FieldRule,
    pub email: FieldRule,
    pub phone: FieldRule,
    pub date_of_birth: FieldRule,
    /// Club OS membership status and plan, as GHL tags `clubos-status-<status>` and
    /// `clubos-plan-<plan>` (lowercase, spaces as `-`), so that GHL automations can use
    /// them. Only Club OS can be its authority: GHL cannot change a membership.
    pub membership: FieldRule,
    /// The member's home club (Club OS location), as the GHL tag `clubos-home-<name>`.
    /// Only Club OS can be its authority.
    pub home_club: FieldRule,
    /// The member's join date (`YYYY-MM-DD`), in the GHL custom field
    /// `sync.join_date_field` (skipped while the location has no such field). Only Club
    /// OS can be its authority.
    pub join_date: FieldRule,
}

impl Default for FieldMap {
    /// Club OS wins names, birth date and membership; email and phone go to the record
    /// changed last. Everything propagates once `sync.propagate` is on.
    fn default() -> Self {
        Self {
            first_name: FieldRule::new(Authority::Clubos, true),
            last_name: FieldRule::new(Authority::Clubos, true),
            email: FieldRule::new(Authority::Newest, true),
            phone: FieldRule::new(Authority::Newest, true),
            date_of_birth: FieldRule::new(Authority::Clubos, true),
            membership: FieldRule::new(Authority::Clubos, true),
            home_club: FieldRule::new(Authority::Clubos, true),
            join_date: FieldRule::new(Authority::Clubos, true),
        }
    }
}

impl FieldMap {
    /// The rules for a GHL contact made from a Club OS user: every field from Club OS
    /// (GHL holds nothing yet), each only if it propagates.
    pub fn for_creation_in_ghl(&self) -> Self {
        let clubos = |r: FieldRule| FieldRule::new(Authority::Clubos, r.propagate);
        Self {
            first_name: clubos(self.first_name),
            last_name: clubos(self.last_name),
            email: clubos(self.email),
            phone: clubos(self.phone),
            date_of_birth: clubos(self.date_of_birth),
            membership: clubos(self.membership),
            home_club: clubos(self.home_club),
            join_date: clubos(self.join_date),
        }
    }

    /// The rules for a Club OS prospect made from a GHL contact: every field GHL can give
    /// from GHL (Club OS holds nothing yet), each only if it propagates. The Club OS
    /// facts stay Club OS's: a prospect has none yet.
    pub fn for_creation_in_clubos(&self) -> Self {
        let ghl = |r: FieldRule| FieldRule::new(Authority::Ghl, r.propagate);
        Self {
            first_name: ghl(self.first_name),
            last_name: ghl(self.last_name),
            email: ghl(self.email),
            phone: ghl(self.phone),
            date_of_birth: ghl(self.date_of_birth),
            ..*self
        }
    }

    /// The audit trail's reason for a write carrying `fields` from `from`: each field
    /// with its rule, e.g. `Club OS change, by [sync.fields]: email (newest), tags (clubos)`.
    pub fn reason(&self, from: &str, fields: &[&str]) -> String {
        let rules: Vec<String> = fields
            .iter()
            .map(|f| match self.rule(f) {
                Some(r) => format!("{f} ({})", r.authority.as_str()),
                None => (*f).to_owned(),
            })
            .collect();
        format!("{from} change, by [sync.fields]: {}", rules.join(", "))
    }

    /// The rule of the field a [`FieldChange`] names (`tags`: the membership's).
    fn rule(&self, field: &str) -> Option<FieldRule> {
        Some(match field {
            "first_name" => self.first_name,
            "last_name" => self.last_name,
            "email" => self.email,
            "phone" => self.phone,
            "date_of_birth" => self.date_of_birth,
            "membership" | "tags" => self.membership,
            "home_club" => self.home_club,
            "join_date" => self.join_date,
            _ => return None,
        })
    }

    /// The one-line problem with the mapping, naming the key.
    pub fn check(&self) -> Result<(), String> {
        for (key, rule, what) in [
            ("membership", self.membership, "a Club OS membership"),
            ("home_club", self.home_club, "a member's home club"),
            ("join_date", self.join_date, "a member's join date"),
        ] {
            if rule.authority != Authority::Clubos {
                return Err(format!(
                    "key `sync.fields.{key}.authority` must be \"clubos\": GHL cannot write {what}"
                ));
            }
        }
        Ok(())
    }
}

/// Tag prefixes of the membership and home club mappings.
const STATUS_TAG: &str = "clubos-status-";
const PLAN_TAG: &str = "clubos-plan-";
const HOME_TAG: &str = "clubos-home-";

/// What carrying Club OS facts to GHL needs beyond the user: the clubs' names and the
/// GHL custom field that holds the join date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Club OS location names by id (empty: the home club is left alone).
    pub clubs: HashMap<i64, String>,
    /// The id of the join date's GHL custom field, when the location has it.
    pub join_date_field: Option<String>,
}

/// One field a write would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field, as `[sync.fields]` names it (`tags` for the membership tags).
    pub field: &'static str,
    /// What the written system holds now.
    pub from: Option<String>,
    /// What it would hold.
    pub to: Option<String>,
}

/// The GHL write that brings a contact in line with its Club OS user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GhlChanges {
    pub patch: ContactPatch,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// Every change, field by field, for the plan and the log.
    pub fields: Vec<FieldChange>,
}

impl GhlChanges {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The Club OS write that brings a user in line with their GHL contact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClubOsChanges {
    pub patch: UserPatch,
    /// Every change, field by field.
    pub fields: Vec<FieldChange>,
}

/// The fields sync compares, as one record holds them (trimmed, empty as none; the phone
/// as E.164, the birth date as `YYYY-MM-DD`).
struct Fields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    date_of_birth: Option<String>,
}

impl Fields {
    fn of_user(u: &ClubOsUser, region: phonenumber::country::Id) -> Self {
        Self::new(
            [
                u.first_name.as_deref(),
                u.last_name.as_deref(),
                u.email.as_deref(),
            ],
            u.phones().next().and_then(|p| phone::to_e164(p, region)),
            u.birth_date.as_deref(),
        )
    }

    fn of_contact(c: &GhlContact, region: phonenumber::country::Id) -> Self {
        Self::new(
            [
                c.first_name.as_deref(),
                c.last_name.as_deref(),
                c.email.as_deref(),
            ],
            c.phone.as_deref().and_then(|p| phone::to_e164(p, region)),
            c.date_of_birth.as_deref(),
        )
    }

    fn new(
        [first, last, email]: [Option<&str>; 3],
        phone: Option<String>,
        dob: Option<&str>,
    ) -> Self {
        let clean = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Self {
            first_name: clean(first),
            last_name: clean(last),
            email: clean(email),
            phone,
            date_of_birth: clean(dob).map(|d| d.chars().take(10).collect()),
        }
    }
}

/// The value each field would get: `source`'s, for every field whose rule `wins` and
/// whose value `target` does not already hold (emails ignoring case). A field `source`
/// holds no value for is left alone: sync never blanks a field.
fn differences(
    source: &Fields,
    target: &Fields,
    map: &FieldMap,
    wins: impl Fn(&FieldRule) -> bool,
) -> Vec<FieldChange> {
    let rows = [
        (
            "first_name",
            &map.first_name,
            &source.first_name,
            &target.first_name,
        ),
        (
            "last_name",
            &map.last_name,
            &source.last_name,
            &target.last_name,
        ),
        ("email", &map.email, &source.email, &target.email),
        ("phone", &map.phone, &source.phone, &target.phone),
        (
            "date_of_birth",
            &map.date_of_birth,
            &source.date_of_birth,
            &target.date_of_birth,
        ),
    ];
    rows.into_iter()
        .filter_map(|(field, rule, theirs, ours)| {
            let theirs = theirs.as_ref()?;
            let same = match field {
                "email" => ours
                    .as_ref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(theirs)),
                _ => ours.as_ref() == Some(theirs),
            };
            (wins(rule) && !same).then(|| FieldChange {
                field,
                from: ours.clone(),
                to: Some(theirs.clone()),
            })
        })
        .collect()
}

/// The new value of `field` among `changes`.
fn to(changes: &[FieldChange], field: &str) -> Option<String> {
    changes
        .iter()
        .find(|c| c.field == field)
        .and_then(|c| c.to.clone())
}

/// Whether a rule lets the side whose record changed later (`newer`) win, given which
/// system it is (`authority`).
fn wins_for(authority: Authority, newer: bool) -> impl Fn(&FieldRule) -> bool {
    move |rule: &FieldRule| {
        rule.propagate
            && (rule.authority == authority || (rule.authority == Authority::Newest && newer))
    }
}

/// Which record of a linked pair changed last, by the upstreams' own update times. A
/// time that is the gateway's own write (see `writes::own`) is no person's change and
/// counts as unknown; an unknown time is never the newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recency {
    pub clubos_newer: bool,
    pub ghl_newer: bool,
}

impl Recency {
    /// From each record's update time, `None` where it is unknown or the gateway's own.
    pub fn of(clubos: Option<&str>, ghl: Option<&str>) -> Self {
        Self {
            clubos_newer: newer(clubos, ghl),
            ghl_newer: newer(ghl, clubos),
        }
    }
}

/// What GHL would have to change so that `contact` agrees with `user` under `map`.
pub fn ghl_changes(
    user: &ClubOsUser,
    contact: &GhlContact,
    map: &FieldMap,
    facts: &Facts,
    region: phonenumber::country::Id,
    recency: Recency,
) -> GhlChanges {
    let clubos_newer = recency.clubos_newer;
    let wins = wins_for(Authority::Clubos, clubos_newer);
    let fields = differences(
        &Fields::of_user(user, region),
        &Fields::of_contact(contact, region),
        map,
        &wins,
    );
    let patch = ContactPatch {
        first_name: to(&fields, "first_name"),
        last_name: to(&fields, "last_name"),
        email: to(&fields, "email"),
        phone: to(&fields, "phone"),
        date_of_birth: to(&fields, "date_of_birth"),
        ..ContactPatch::default()
    };
    let mut out = GhlChanges {
        patch,
        fields,
        ..GhlChanges::default()
    };
    if wins(&map.join_date) {
        join_date(user, contact, facts, &mut out);
    }
    fact_tags(user, contact, map, facts, &wins, &mut out);
    out
}

/// The join date into its custom field, when the location has one, the user has a
/// date and the contact holds another.
fn join_date(user: &ClubOsUser, contact: &GhlContact, facts: &Facts, out: &mut GhlChanges) {
    let (Some(field), Some(date)) = (&facts.join_date_field, user.join_date.as_deref()) else {
        return;
    };
    let date: String = date.trim().chars().take(10).collect();
    if date.is_empty() {
        return;
    }
    let held = contact
        .custom_fields
        .iter()
        .find(|f| f.id == *field)
        .and_then(|f| f.value.as_str())
        .map(|v| v.chars().take(10).collect::<String>());
    if held.as_deref() == Some(date.as_str()) {
        return;
    }
    out.patch.custom_fields = Some(vec![CustomFieldWrite {
        id: field.clone(),
        field_value: serde_json::Value::String(date.clone()),
    }]);
    out.fields.push(FieldChange {
        field: "join_date",
        from: held,
        to: Some(date),
    });
}

/// What Club OS would have to change so that `user` agrees with `contact` under `map`:
/// the fields whose authority is GHL, or the newest record when GHL's changed later. The
/// phone goes to the mobile phone, as the national digits Club OS stores.
pub fn clubos_changes(
    contact: &GhlContact,
    user: &ClubOsUser,
    map: &FieldMap,
    region: phonenumber::country::Id,
    recency: Recency,
) -> ClubOsChanges {
    let ghl_newer = recency.ghl_newer;
    let fields = differences(
        &Fields::of_contact(contact, region),
        &Fields::of_user(user, region),
        map,
        wins_for(Authority::Ghl, ghl_newer),
    );
    let patch = UserPatch {
        first_name: to(&fields, "first_name"),
        last_name: to(&fields, "last_name"),
        email: to(&fields, "email"),
        mobile_phone: to(&fields, "phone").and_then(|p| phone::to_national_digits(&p, region)),
        birth_date: to(&fields, "date_of_birth"),
        ..UserPatch::default()
    };
    ClubOsChanges { patch, fields }
}

/// The tags that carry Club OS facts (membership status and plan, home club) a user
/// should have in GHL, and the changes to get there. Only the prefixes of rules that win
/// are looked at, and the home club's only while the clubs' names are known: other tags
/// are left alone.
fn fact_tags(
    user: &ClubOsUser,
    contact: &GhlContact,
    map: &FieldMap,
    facts: &Facts,
    wins: &impl Fn(&FieldRule) -> bool,
    out: &mut GhlChanges,
) {
    let tag =
        |prefix: &str, v: &str| format!("{prefix}{}", v.trim().to_lowercase().replace(' ', "-"));
    let mut prefixes = Vec::new();
    let mut wanted = Vec::new();
    if wins(&map.membership) {
        prefixes.extend([STATUS_TAG, PLAN_TAG]);
        wanted.extend(
            user.membership_status
                .as_deref()
                .map(|s| tag(STATUS_TAG, s)),
        );
        wanted.extend(user.membership_type.as_deref().map(|t| tag(PLAN_TAG, t)));
    }
    if wins(&map.home_club) && !facts.clubs.is_empty() {
        prefixes.push(HOME_TAG);
        wanted.extend(facts.clubs.get(&user.location_id).map(|n| tag(HOME_TAG, n)));
    }
    if prefixes.is_empty() {
        return;
    }
    let held: Vec<String> = contact
        .tags
        .iter()
        .map(|t| t.to_lowercase())
        .filter(|t| prefixes.iter().any(|p| t.starts_with(p)))
        .collect();
    out.add_tags = wanted
        .iter()
        .filter(|t| !held.contains(t))
        .cloned()
        .collect();
    out.remove_tags = held
        .iter()
        .filter(|t| !wanted.contains(t))
        .cloned()
        .collect();
    if !out.add_tags.is_empty() || !out.remove_tags.is_empty() {
        out.fields.push(FieldChange {
            field: "tags",
            from: Some(held.join(",")).filter(|v| !v.is_empty()),
            to: Some(wanted.join(",")).filter(|v| !v.is_empty()),
        });
    }
}

/// Whether record `a` changed after record `b` (an unknown time is never newer).
fn newer(a: Option<&str>, b: Option<&str>) -> bool {
    let at = |v: Option<&str>| {
        v.and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.timestamp_millis())
    };
    match (at(a), at(b)) {
        (Some(c), Some(g)) => c > g,
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use phonenumber::country::US;

    use super::*;

    fn recency(user: &ClubOsUser, contact: &GhlContact) -> Recency {
        Recency::of(
            user.updated_date.as_deref(),
            contact.date_updated.as_deref(),
        )
    }

    fn pair() -> (ClubOsUser, GhlContact) {
        let user = ClubOsUser {
            user_id: 7,
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            email: Some("ann@example.com".into()),
            mobile_phone: Some("5125550101".into()),
            membership_status: Some("ACTIVE".into()),
            membership_type: Some("Gold".into()),
            updated_date: Some("2026-03-01T10:00:00Z".into()),
            ..ClubOsUser::default()
        };
        let contact = GhlContact {
            id: "g1".into(),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            email: Some("ANN@example.com".into()),
            phone: Some("+15125550101".into()),
            tags: vec![
                "clubos-status-active".into(),
                "clubos-plan-gold".into(),
                "vip".into(),
            ],
            date_updated: Some("2026-02-01T10:00:00Z".into()),
            ..GhlContact::default()
        };
        (user, contact)
    }

    #[test]
    fn records_that_agree_up_to_case_and_phone_format_need_no_write() {
        let (user, contact) = pair();
        let changes = ghl_changes(
            &user,
            &contact,
            &FieldMap::default(),
            &Facts::default(),
            US,
            recency(&user, &contact),
        );
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn each_field_follows_its_authority() {
        let (mut user, contact) = pair();
        user.email = Some("new@example.com".into());
        user.last_name = Some("Lee-Park".into());
        user.membership_type = Some("Silver Plus".into());
        let mut map = FieldMap::default();
        map.last_name.authority = Authority::Ghl;
        let changes = ghl_changes(
            &user,
            &contact,
            &map,
            &Facts::default(),
            US,
            recency(&user, &contact),
        );
        assert_eq!(changes.patch.email.as_deref(), Some("new@example.com"));
        assert_eq!(
            changes.patch.last_name, None,
            "GHL is the surname's authority"
        );
        assert_eq!(changes.add_tags, ["clubos-plan-silver-plus"]);
        assert_eq!(changes.remove_tags, ["clubos-plan-gold"]);
        let fields: Vec<&str> = changes.fields.iter().map(|f| f.field).collect();
        assert_eq!(fields, ["email", "tags"]);

        // `newest`: a GHL record changed after the Club OS one keeps its email.
        let mut later = contact.clone();
        later.date_updated = Some("2026-04-01T10:00:00Z".into());
        let changes = ghl_changes(
            &user,
            &later,
            &map,
            &Facts::default(),
            US,
            recency(&user, &later),
        );
        assert_eq!(changes.patch.email, None);
        // ... and it goes the other way: Club OS takes GHL's email.
        let back = clubos_changes(&later, &user, &map, US, recency(&user, &later));
        assert_eq!(back.patch.email.as_deref(), Some("ANN@example.com"));
        assert_eq!(
            back.patch.last_name.as_deref(),
            Some("Lee"),
            "GHL's surname wins"
        );
        // A GHL time that is the gateway's own write makes nothing newer.
        let own = Recency::of(user.updated_date.as_deref(), None);
        let back = clubos_changes(&later, &user, &map, US, own);
        assert_eq!(back.patch.email, None);
    }

    #[test]
    fn the_membership_cannot_be_ghls() {
        let mut map = FieldMap::default();
        assert!(map.check().is_ok());
        map.membership.authority = Authority::Newest;
        assert!(
            map.check()
                .unwrap_err()
                .contains("sync.fields.membership.authority")
        );
    }

    #[test]
    fn the_home_club_and_join_date_reach_ghl_as_a_tag_and_a_custom_field() {
        use crate::upstream::ghl::models::CustomFieldValue;
        use serde_json::json;

        let (mut user, contact) = pair();
        user.location_id = 4500;
        user.join_date = Some("2024-05-06T00:00:00Z".into());
        let mut facts = Facts {
            clubs: HashMap::from([(4500, "Downtown East".to_owned())]),
            join_date_field: Some("cf-join".into()),
        };
        let map = FieldMap::default();
        let changes = ghl_changes(&user, &contact, &map, &facts, US, recency(&user, &contact));
        assert_eq!(changes.add_tags, ["clubos-home-downtown-east"]);
        assert!(changes.remove_tags.is_empty(), "{changes:?}");
        assert_eq!(
            changes.patch.custom_fields,
            Some(vec![CustomFieldWrite {
                id: "cf-join".into(),
                field_value: json!("2024-05-06"),
            }])
        );
        let names: Vec<&str> = changes.fields.iter().map(|f| f.field).collect();
        assert_eq!(names, ["join_date", "tags"]);

        let mut synced = contact.clone();
        synced.tags.push("clubos-home-downtown-east".into());
        synced.custom_fields.push(CustomFieldValue {
            id: "cf-join".into(),
            value: json!("2024-05-06"),
        });
        let again = ghl_changes(&user, &synced, &map, &facts, US, recency(&user, &synced));
        assert!(again.is_empty(), "{again:?}");

        user.location_id = 4501;
        facts.clubs.insert(4501, "Northside".into());
        let moved = ghl_changes(&user, &synced, &map, &facts, US, recency(&user, &synced));
        assert_eq!(moved.add_tags, ["clubos-home-northside"]);
        assert_eq!(moved.remove_tags, ["clubos-home-downtown-east"]);

        let unknown = Facts::default();
        let left = ghl_changes(&user, &synced, &map, &unknown, US, recency(&user, &synced));
        assert!(
            left.is_empty(),
            "without the clubs' names or the field, nothing is blanked: {left:?}"
        );
    }

    #[test]
    fn club_os_facts_cannot_be_ghls() {
        let mut map = FieldMap::default();
        map.join_date.authority = Authority::Ghl;
        assert_eq!(
            map.check().unwrap_err(),
            "key `sync.fields.join_date.authority` must be \"clubos\": GHL cannot write a member's join date"
        );
    }
}
