//! Which fields a Club OS change carries to GHL: per field, the system that is its
//! authority and whether changes propagate (`[sync.fields]`), and the pure comparison that
//! turns a linked pair into the GHL write that would bring GHL in line.
//!
//! Propagation compares values, never events: a field is written only when GHL holds a
//! different value (emails ignoring case, phones as E.164, tags as GHL lowercases them).
//! So the echo of a write contactgraph made (the webhook GHL sends, the next poll that
//! sees the user again) finds nothing to write, and sync cannot loop.

use serde::{Deserialize, Serialize};

use crate::{
    phone,
    upstream::{
        clubos::ClubOsUser,
        ghl::models::{ContactPatch, GhlContact},
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
        }
    }
}

impl FieldMap {
    /// The one-line problem with the mapping, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if self.membership.authority != Authority::Clubos {
            return Err(
                "key `sync.fields.membership.authority` must be \"clubos\": \
                        GHL cannot write a Club OS membership"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Tag prefixes of the membership mapping.
const STATUS_TAG: &str = "clubos-status-";
const PLAN_TAG: &str = "clubos-plan-";

/// One field GHL would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field, as `[sync.fields]` names it (`tags` for the membership tags).
    pub field: &'static str,
    /// What GHL holds now.
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

/// What GHL would have to change so that `contact` agrees with `user` under `map`.
pub fn ghl_changes(
    user: &ClubOsUser,
    contact: &GhlContact,
    map: &FieldMap,
    region: phonenumber::country::Id,
) -> GhlChanges {
    let clubos_newer = newer(
        user.updated_date.as_deref(),
        contact.date_updated.as_deref(),
    );
    let wins = |rule: &FieldRule| {
        rule.propagate
            && match rule.authority {
                Authority::Clubos => true,
                Authority::Ghl => false,
                Authority::Newest => clubos_newer,
            }
    };
    let mut fields = Vec::new();
    let mut text = |field,
                    rule: &FieldRule,
                    theirs: Option<&str>,
                    ours: Option<&str>,
                    norm: fn(&str) -> String| {
        let theirs = theirs.map(str::trim).filter(|v| !v.is_empty())?;
        let ours = ours.map(str::trim).filter(|v| !v.is_empty());
        if !wins(rule) || ours.map(norm) == Some(norm(theirs)) {
            return None;
        }
        fields.push(FieldChange {
            field,
            from: ours.map(str::to_owned),
            to: Some(theirs.to_owned()),
        });
        Some(theirs.to_owned())
    };
    let same: fn(&str) -> String = str::to_owned;
    let lower: fn(&str) -> String = str::to_lowercase;
    let day: fn(&str) -> String = |v| v.chars().take(10).collect();
    let their_phone = user.phones().next().and_then(|p| phone::to_e164(p, region));
    let our_phone = contact
        .phone
        .as_deref()
        .and_then(|p| phone::to_e164(p, region));
    let dob: Option<String> = user.birth_date.as_deref().map(day);
    let patch = ContactPatch {
        first_name: text(
            "first_name",
            &map.first_name,
            user.first_name.as_deref(),
            contact.first_name.as_deref(),
            same,
        ),
        last_name: text(
            "last_name",
            &map.last_name,
            user.last_name.as_deref(),
            contact.last_name.as_deref(),
            same,
        ),
        email: text(
            "email",
            &map.email,
            user.email.as_deref(),
            contact.email.as_deref(),
            lower,
        ),
        phone: text(
            "phone",
            &map.phone,
            their_phone.as_deref(),
            our_phone.as_deref(),
            same,
        ),
        date_of_birth: text(
            "date_of_birth",
            &map.date_of_birth,
            dob.as_deref(),
            contact.date_of_birth.as_deref(),
            day,
        ),
        ..ContactPatch::default()
    };
    let mut out = GhlChanges {
        patch,
        fields,
        ..GhlChanges::default()
    };
    if wins(&map.membership) {
        membership_tags(user, contact, &mut out);
    }
    out
}

/// The membership tags a user should carry in GHL, and the changes to get there.
fn membership_tags(user: &ClubOsUser, contact: &GhlContact, out: &mut GhlChanges) {
    let tag =
        |prefix: &str, v: &str| format!("{prefix}{}", v.trim().to_lowercase().replace(' ', "-"));
    let wanted: Vec<String> = [
        user.membership_status
            .as_deref()
            .map(|s| tag(STATUS_TAG, s)),
        user.membership_type.as_deref().map(|t| tag(PLAN_TAG, t)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let held: Vec<String> = contact
        .tags
        .iter()
        .map(|t| t.to_lowercase())
        .filter(|t| t.starts_with(STATUS_TAG) || t.starts_with(PLAN_TAG))
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

/// Whether Club OS's update time is after GHL's (an unknown time is never newer).
fn newer(clubos: Option<&str>, ghl: Option<&str>) -> bool {
    let at = |v: Option<&str>| {
        v.and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.timestamp_millis())
    };
    match (at(clubos), at(ghl)) {
        (Some(c), Some(g)) => c > g,
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            phonenumber::country::US,
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
        let changes = ghl_changes(&user, &contact, &map, phonenumber::country::US);
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
        let changes = ghl_changes(&user, &later, &map, phonenumber::country::US);
        assert_eq!(changes.patch.email, None);
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
}
