//! The simulator's data: users by id, events and locations, with the matching rules
//! (email, phone, duplicates) the handlers share.

use std::collections::BTreeMap;

use super::model::{Event, Location, User};
use crate::seed::ClubOsSeed;

/// Everything the simulator serves. Users are soft-deleted (`deletedAt`), never removed.
#[derive(Debug)]
pub(super) struct Store {
    pub(super) users: BTreeMap<i64, User>,
    pub(super) events: Vec<Event>,
    pub(super) locations: Vec<Location>,
}

impl Store {
    pub(super) fn from_seed(seed: ClubOsSeed) -> Self {
        Self {
            users: seed.users.into_iter().map(|u| (u.user_id, u)).collect(),
            events: seed.events,
            locations: seed.locations,
        }
    }

    /// A user that exists and is not soft-deleted.
    pub(super) fn live_user(&self, id: i64) -> Option<&User> {
        self.users.get(&id).filter(|u| u.deleted_at.is_none())
    }

    pub(super) fn live_users(&self) -> impl Iterator<Item = &User> {
        self.users.values().filter(|u| u.deleted_at.is_none())
    }

    pub(super) fn location(&self, id: i64) -> Option<&Location> {
        self.locations.iter().find(|l| l.location_id == id)
    }

    /// New users continue after the highest id ever issued (deleted ones included).
    pub(super) fn next_user_id(&self) -> i64 {
        self.users
            .keys()
            .next_back()
            .map_or(170_000_001, |id| id + 1)
    }

    pub(super) fn next_event_id(&self) -> i64 {
        self.events
            .iter()
            .map(|e| e.event_id)
            .max()
            .map_or(900_000_000, |id| id + 1)
    }

    /// The existing user a create would duplicate: same first and last name
    /// (case-insensitive) and the same email (case-insensitive) or phone (digits). This is
    /// the rule Club OS documents for matching billing-system members.
    pub(super) fn find_duplicate(
        &self,
        first: &str,
        last: &str,
        email: Option<&str>,
        phones: &[String],
    ) -> Option<i64> {
        let keys: Vec<String> = phones.iter().filter_map(|p| phone_key(p)).collect();
        self.live_users()
            .find(|u| {
                u.first_name.trim().eq_ignore_ascii_case(first.trim())
                    && u.last_name.trim().eq_ignore_ascii_case(last.trim())
                    && (email.is_some_and(|e| email_matches(u, e))
                        || u.phones().filter_map(phone_key).any(|k| keys.contains(&k)))
            })
            .map(|u| u.user_id)
    }
}

/// Club OS stores phones as digits only (documented for v1 prospects).
pub(super) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// What phone matching compares: the last 10 digits (a North American number without
/// its country code), or all digits of a shorter number. *Inferred*.
pub(super) fn phone_key(s: &str) -> Option<String> {
    let d = digits(s);
    if d.is_empty() {
        return None;
    }
    let skip = d.len().saturating_sub(10);
    Some(d[skip..].to_owned())
}

pub(super) fn email_matches(u: &User, email: &str) -> bool {
    u.email
        .as_deref()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case(email.trim()))
}

pub(super) fn phone_matches(u: &User, phone: &str) -> bool {
    phone_key(phone).is_some_and(|k| u.phones().filter_map(phone_key).any(|p| p == k))
}
