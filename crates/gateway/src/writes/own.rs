//! The gateway's own recent writes, remembered so that sync can tell its own echo from a
//! person's change. After each write of a GHL contact or a Club OS user the gateway keeps
//! what the upstream answered for the fields sync compares (names, email, phones, birth
//! date). A record that still holds exactly those values was last changed by the gateway
//! (a link mirror, a propagated field, a tag): under a `newest` field rule its update
//! time then makes it no newer, or a write of one field would hand every field to the
//! record the gateway just touched. Any other value means a person changed it since.
//!
//! Kept per process, for 15 minutes per record (the longest poll interval).

use std::time::Duration;

use moka::sync::Cache;

use crate::upstream::{clubos::ClubOsUser, ghl::models::GhlContact};

/// What the gateway last wrote to each record, as the compared fields' values.
#[derive(Clone)]
pub struct OwnWrites {
    contacts: Cache<String, String>,
    users: Cache<i64, String>,
}

impl Default for OwnWrites {
    fn default() -> Self {
        Self {
            contacts: cache(),
            users: cache(),
        }
    }
}

impl std::fmt::Debug for OwnWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnWrites")
            .field("contacts", &self.contacts.entry_count())
            .field("users", &self.users.entry_count())
            .finish()
    }
}

impl OwnWrites {
    /// Remembers a contact as a write of the gateway's left it (GHL's answer).
    pub fn wrote_contact(&self, c: &GhlContact) {
        self.contacts.insert(c.id.clone(), contact_print(c));
    }

    /// Remembers a user as a write of the gateway's left them (Club OS's answer).
    pub fn wrote_user(&self, u: &ClubOsUser) {
        self.users.insert(u.user_id, user_print(u));
    }

    /// Whether the contact's compared fields are still what the gateway wrote.
    pub fn is_own_contact(&self, c: &GhlContact) -> bool {
        self.contacts
            .get(&c.id)
            .is_some_and(|p| p == contact_print(c))
    }

    /// Whether the user's compared fields are still what the gateway wrote.
    pub fn is_own_user(&self, u: &ClubOsUser) -> bool {
        self.users
            .get(&u.user_id)
            .is_some_and(|p| p == user_print(u))
    }
}

/// A bounded memory that forgets each record after the longest poll interval.
fn cache<K: std::hash::Hash + Eq + Send + Sync + 'static>() -> Cache<K, String> {
    Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(15 * 60))
        .build()
}

fn print<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> String {
    values
        .into_iter()
        .map(|v| v.map(str::trim).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

fn contact_print(c: &GhlContact) -> String {
    print([
        c.first_name.as_deref(),
        c.last_name.as_deref(),
        c.email.as_deref(),
        c.phone.as_deref(),
        c.date_of_birth.as_deref(),
    ])
}

fn user_print(u: &ClubOsUser) -> String {
    print([
        u.first_name.as_deref(),
        u.last_name.as_deref(),
        u.email.as_deref(),
        u.mobile_phone.as_deref(),
        u.home_phone.as_deref(),
        u.work_phone.as_deref(),
        u.birth_date.as_deref(),
    ])
}
