//! What each loader's reads tell the response cache an answer depends on (see
//! [`crate::response_cache`]): a person's records by the person, a collection's records
//! also one by one (a record may move to another owner), and lists, searches and
//! lookups by the whole kind.

use crate::{
    response_cache::Tag,
    store::RecordKind,
    upstream::ghl::models::{GhlAppointment, GhlNote, GhlTask},
};

/// Any GHL contact may change the answer (searches, lookups by email, phone or link).
pub fn any_ghl_contact<K, V>(_: &K, _: Option<&V>, tags: &mut Vec<Tag>) {
    tags.push(Tag::AnyGhlContact);
}

/// Any Club OS user may change the answer (pages of users, lookups by email or phone).
pub fn any_clubos_user<K, V>(_: &K, _: Option<&V>, tags: &mut Vec<Tag>) {
    tags.push(Tag::AnyClubOsUser);
}

/// The location list.
pub fn locations<K, V>(_: &K, _: Option<&V>, tags: &mut Vec<Tag>) {
    tags.push(Tag::Locations);
}

/// Something of one GHL contact (the contact, its stored link).
pub fn ghl_contact<K: AsRef<str>, V>(id: &K, _: Option<&V>, tags: &mut Vec<Tag>) {
    tags.push(Tag::Ghl(id.as_ref().to_owned()));
}

/// Something of one Club OS user (the user, their events, their stored link).
pub fn clubos_user<V>(id: &i64, _: Option<&V>, tags: &mut Vec<Tag>) {
    tags.push(Tag::ClubOs(*id));
}

fn collection<'a>(
    owner: &str,
    kind: RecordKind,
    ids: impl Iterator<Item = &'a String>,
    tags: &mut Vec<Tag>,
) {
    tags.push(Tag::Ghl(owner.to_owned()));
    tags.extend(ids.map(|id| Tag::Record(kind, id.clone())));
}

/// A GHL contact's tasks.
pub fn ghl_tasks<K: AsRef<str>>(owner: &K, tasks: Option<&Vec<GhlTask>>, tags: &mut Vec<Tag>) {
    let ids = tasks.into_iter().flatten().map(|t| &t.id);
    collection(owner.as_ref(), RecordKind::GhlTask, ids, tags);
}

/// A GHL contact's notes.
pub fn ghl_notes<K: AsRef<str>>(owner: &K, notes: Option<&Vec<GhlNote>>, tags: &mut Vec<Tag>) {
    let ids = notes.into_iter().flatten().map(|n| &n.id);
    collection(owner.as_ref(), RecordKind::GhlNote, ids, tags);
}

/// A GHL contact's appointments.
pub fn ghl_appointments<K: AsRef<str>>(
    owner: &K,
    appointments: Option<&Vec<GhlAppointment>>,
    tags: &mut Vec<Tag>,
) {
    let ids = appointments.into_iter().flatten().map(|a| &a.id);
    collection(owner.as_ref(), RecordKind::GhlAppointment, ids, tags);
}
