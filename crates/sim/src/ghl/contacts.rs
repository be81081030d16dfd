//! Contacts: create, get, update, delete, upsert, duplicate lookup and tags.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde_json::{Map, Value, json};

use super::reply::{Reject, Reply, json_ok, json_with};
use super::{
    Caller, GhlSim,
    model::Contact,
    store::{self, Store},
    validate::{self, Dto, Ty, str_of, strs_of},
    webhooks::contact_changes,
    with_trace,
};
use crate::phone;

const CONTACT_FIELDS: &[(&str, Ty)] = &[
    ("firstName", Ty::Str),
    ("lastName", Ty::Str),
    ("name", Ty::Str),
    ("email", Ty::Email),
    ("phone", Ty::Str),
    ("address1", Ty::Str),
    ("city", Ty::Str),
    ("state", Ty::Str),
    ("postalCode", Ty::Str),
    ("website", Ty::Str),
    ("timezone", Ty::Str),
    ("dnd", Ty::Bool),
    ("dndSettings", Ty::Object),
    ("inboundDndSettings", Ty::Object),
    ("tags", Ty::StrArray),
    ("customFields", Ty::Array),
    ("source", Ty::Str),
    ("dateOfBirth", Ty::Str),
    ("country", Ty::Str),
    ("assignedTo", Ty::Str),
];

/// Properties only a create (or upsert) may send.
const CREATE_ONLY: &[(&str, Ty)] = &[
    ("locationId", Ty::Str),
    ("gender", Ty::Str),
    ("companyName", Ty::Str),
];

/// CreateContactDto: the shared fields plus `locationId`, `gender`, `companyName`.
const CREATE: Dto = Dto {
    fields: &[CREATE_ONLY, CONTACT_FIELDS],
    required: &["locationId"],
};

/// UpdateContactDto: no `locationId`, `gender` or `companyName`.
const UPDATE: Dto = Dto {
    fields: &[CONTACT_FIELDS],
    required: &[],
};

/// UpsertContactDto: CreateContactDto plus `createNewIfDuplicateAllowed`.
const UPSERT: Dto = Dto {
    fields: &[
        CREATE_ONLY,
        CONTACT_FIELDS,
        &[("createNewIfDuplicateAllowed", Ty::Bool)],
    ],
    required: &["locationId"],
};

const TAGS: Dto = Dto {
    fields: &[&[("tags", Ty::StrArray)]],
    required: &["tags"],
};

const BULK_TAGS: Dto = Dto {
    fields: &[&[
        ("contacts", Ty::StrArray),
        ("tags", Ty::StrArray),
        ("locationId", Ty::Str),
        ("removeAllTags", Ty::Bool),
    ]],
    required: &["contacts", "tags", "locationId"],
};

/// Tags as GHL stores them: trimmed, lowercase, no repeats.
pub fn normalise_tags(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The date formats `dateOfBirth` accepts, normalised to `YYYY-MM-DD`.
fn normalise_date(input: &str) -> Option<String> {
    const FORMATS: [&str; 8] = [
        "%Y/%m/%d", "%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%Y.%m.%d", "%m.%d.%Y", "%Y_%m_%d",
        "%m_%d_%Y",
    ];
    FORMATS
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(input, f).ok())
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// Applies the contact properties of a validated body, checking values as GHL does.
fn apply(
    c: &mut Contact,
    map: &Map<String, Value>,
    store: &Store,
    replace_tags: bool,
) -> Result<(), Reject> {
    let mut problems = Vec::new();
    let text = |key: &str| str_of(map, key);
    if let Some(v) = text("firstName") {
        c.first_name = Some(v);
    }
    if let Some(v) = text("lastName") {
        c.last_name = Some(v);
    }
    if let Some(name) = text("name")
        && !map.contains_key("firstName")
        && !map.contains_key("lastName")
    {
        let mut parts = name.splitn(2, ' ');
        c.first_name = parts.next().map(str::to_owned);
        c.last_name = parts.next().map(str::to_owned);
    }
    if map.contains_key("email") {
        c.email = text("email");
    }
    if let Some(p) = text("phone") {
        match phone::to_e164(&p) {
            Some(e164) => c.phone = Some(e164),
            None => problems.push("phone must be a valid phone number".to_owned()),
        }
    }
    if let Some(d) = text("dateOfBirth") {
        match normalise_date(&d) {
            Some(d) => c.date_of_birth = Some(d),
            None => problems.push("dateOfBirth must be a valid date".to_owned()),
        }
    }
    for (key, slot) in [
        ("address1", &mut c.address1),
        ("city", &mut c.city),
        ("state", &mut c.state),
        ("postalCode", &mut c.postal_code),
        ("website", &mut c.website),
        ("timezone", &mut c.timezone),
        ("country", &mut c.country),
        ("companyName", &mut c.company_name),
        ("source", &mut c.source),
        ("assignedTo", &mut c.assigned_to),
    ] {
        if map.contains_key(key) {
            *slot = text(key);
        }
    }
    if let Some(d) = map.get("dnd").and_then(Value::as_bool) {
        c.dnd = d;
    }
    if let Some(tags) = strs_of(map, "tags") {
        c.tags = if replace_tags {
            normalise_tags(tags)
        } else {
            normalise_tags(c.tags.iter().cloned().chain(tags))
        };
    }
    if let Some(fields) = map.get("customFields").and_then(Value::as_array) {
        for (i, f) in fields.iter().enumerate() {
            let key = f
                .get("id")
                .or_else(|| f.get("key"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = f
                .get("field_value")
                .or_else(|| f.get("value"))
                .cloned()
                .unwrap_or(Value::Null);
            match store.custom_field_id(&c.location_id, key) {
                Some(id) => {
                    c.custom_fields.retain(|(fid, _)| *fid != id);
                    if !value.is_null() && value != json!("") {
                        c.custom_fields.push((id, value));
                    }
                }
                None => problems.push(format!("customFields.{i}.id must be a valid custom field")),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Reject::Unprocessable(problems))
    }
}

fn duplicate_error(existing: &Contact, field: &'static str) -> Reject {
    Reject::Duplicate {
        contact_id: existing.id.clone(),
        contact_name: existing.full_name().unwrap_or_default(),
        matching_field: field,
    }
}

fn new_contact(store: &mut Store, location: &str) -> Contact {
    let now = store::now_iso();
    Contact {
        id: store.new_id(),
        location_id: location.to_owned(),
        date_added: now.clone(),
        date_updated: now,
        seq: store.next_seq(),
        ..Contact::default()
    }
}

/// `POST /contacts/` → 201 `{contact}`, or 400 with `meta` for a duplicate.
pub async fn create(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &CREATE)?;
    if str_of(&map, "locationId").as_deref() != Some(caller.location_id.as_str()) {
        return Err(Reject::Forbidden);
    }
    let allow_duplicates = sim.config().allow_duplicate_contact;
    let mut store = sim.store();
    let mut c = new_contact(&mut store, &caller.location_id);
    apply(&mut c, &map, &store, true)?;
    if !allow_duplicates
        && let Some((existing, field)) =
            store.duplicate_of(&c.location_id, c.email.as_deref(), c.phone.as_deref(), None)
    {
        return Err(duplicate_error(existing, field));
    }
    let out = json!({"contact": c.create_json()});
    sim.emit([c.webhook_json("ContactCreate")]);
    store.contacts.insert(c.id.clone(), c);
    json_with(StatusCode::CREATED, out)
}

/// `GET /contacts/{contactId}` → `{contact}`, or 400 `Contact with id … not found`.
pub async fn get_one(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    validate::query(&q, &[], &[])?;
    let store = sim.store();
    let c = store.contact(&caller, &id)?;
    json_ok(json!({"contact": c.read_json()}))
}

/// `PUT /contacts/{contactId}` → `{succeded, contact}`; `tags` replaces the whole list.
pub async fn update(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &UPDATE)?;
    let allow_duplicates = sim.config().allow_duplicate_contact;
    let mut store = sim.store();
    let before = store.contact(&caller, &id)?.clone();
    let mut c = before.clone();
    apply(&mut c, &map, &store, true)?;
    if !allow_duplicates
        && let Some((existing, field)) = store.duplicate_of(
            &c.location_id,
            c.email.as_deref(),
            c.phone.as_deref(),
            Some(&c.id),
        )
    {
        return Err(duplicate_error(existing, field));
    }
    c.date_updated = store::now_iso();
    let out = json!({"succeded": true, "contact": c.read_json()});
    sim.emit(contact_changes(&before, &c));
    store.contacts.insert(c.id.clone(), c);
    json_ok(out)
}

/// `DELETE /contacts/{contactId}` → `{succeded: true}`; its tasks, notes and events go too.
pub async fn remove(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = sim.store();
    let gone = store.contact(&caller, &id)?.webhook_json("ContactDelete");
    store.contacts.remove(&id);
    store.tasks.retain(|_, t| t.contact_id != id);
    store.notes.retain(|_, n| n.contact_id != id);
    store.events.retain(|_, e| e.contact_id != id);
    sim.emit([gone]);
    json_ok(json!({"succeded": true}))
}

/// `POST /contacts/upsert` → 200 `{new, contact, traceId}`: email is matched first, then
/// phone; when they point at two contacts, the email match wins and the phone is ignored.
pub async fn upsert(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Reply {
    let mut map = validate::body(&body, &UPSERT)?;
    if str_of(&map, "locationId").as_deref() != Some(caller.location_id.as_str()) {
        return Err(Reject::Forbidden);
    }
    let allow_duplicates = sim.config().allow_duplicate_contact;
    let force_new = allow_duplicates
        && map
            .get("createNewIfDuplicateAllowed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let phone = str_of(&map, "phone").and_then(|p| phone::to_e164(&p));
    let email = str_of(&map, "email");
    let mut store = sim.store();
    let matched = if force_new {
        None
    } else {
        store
            .duplicate_of(
                &caller.location_id,
                email.as_deref(),
                phone.as_deref(),
                None,
            )
            .map(|(c, field)| (c.id.clone(), field))
    };
    let (before, is_new) = match matched {
        Some((id, field)) => {
            if field == "email"
                && phone.is_some()
                && store
                    .duplicate_of(&caller.location_id, None, phone.as_deref(), Some(&id))
                    .is_some()
            {
                map.remove("phone");
            }
            (store.contacts[&id].clone(), false)
        }
        None => (new_contact(&mut store, &caller.location_id), true),
    };
    let mut c = before.clone();
    apply(&mut c, &map, &store, true)?;
    if is_new {
        sim.emit([c.webhook_json("ContactCreate")]);
    } else {
        c.date_updated = store::now_iso();
        sim.emit(contact_changes(&before, &c));
    }
    let out = with_trace(json!({"new": is_new, "contact": c.read_json()}));
    store.contacts.insert(c.id.clone(), c);
    json_ok(out)
}

/// `GET /contacts/search/duplicate?locationId&number&email` → `{contact}` or `{contact: null}`.
pub async fn duplicate(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    validate::query(&q, &["locationId", "number", "email"], &["locationId"])?;
    if q.get("locationId") != Some(&caller.location_id) {
        return Err(Reject::Forbidden);
    }
    let email = q.get("email").filter(|e| !e.is_empty());
    let number = q.get("number").filter(|n| !n.is_empty());
    if email.is_none() && number.is_none() {
        return Err(Reject::BadRequest(
            "Pass at least one of number, email query parameter".into(),
        ));
    }
    let phone = number.and_then(|n| phone::to_e164(n));
    let store = sim.store();
    let found = store
        .duplicate_of(
            &caller.location_id,
            email.map(String::as_str),
            phone.as_deref(),
            None,
        )
        .map(|(c, _)| c.read_json());
    json_ok(json!({"contact": found}))
}

/// `POST /contacts/{contactId}/tags` → 201 `{tags}` (the list after adding).
pub async fn add_tags(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    change_tags(&sim, &caller, &id, &body, true)
}

/// `DELETE /contacts/{contactId}/tags` (body on DELETE) → 200 `{tags}` (what remains).
pub async fn remove_tags(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    change_tags(&sim, &caller, &id, &body, false)
}

fn change_tags(sim: &GhlSim, caller: &Caller, id: &str, body: &Bytes, add: bool) -> Reply {
    let map = validate::body(body, &TAGS)?;
    let tags = normalise_tags(strs_of(&map, "tags").unwrap_or_default());
    let mut store = sim.store();
    let c = store.contact_mut(caller, id)?;
    let old = c.tags.clone();
    if add {
        c.tags = normalise_tags(c.tags.iter().cloned().chain(tags));
    } else {
        c.tags.retain(|t| !tags.contains(t));
    }
    c.date_updated = store::now_iso();
    if c.tags != old {
        sim.emit([c.webhook_json("ContactTagUpdate")]);
    }
    let status = if add {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_with(status, json!({"tags": c.tags}))
}

fn is_firebase_id(id: &str) -> bool {
    id.len() == 20 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `POST /contacts/bulk/tags/update/{type}` (`add` | `remove`) → 201 with one result per
/// contact; a bad id fails only its own item.
pub async fn bulk_tags(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Reply {
    let add = match kind.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            return Err(Reject::BadRequest(format!(
                "Invalid type {kind}; use add or remove"
            )));
        }
    };
    let map = validate::body(&body, &BULK_TAGS)?;
    if str_of(&map, "locationId").as_deref() != Some(caller.location_id.as_str()) {
        return Err(Reject::Forbidden);
    }
    let remove_all = !add && map.get("removeAllTags").and_then(Value::as_bool) == Some(true);
    let tags = normalise_tags(strs_of(&map, "tags").unwrap_or_default());
    let mut store = sim.store();
    let mut responses = Vec::new();
    for id in strs_of(&map, "contacts").unwrap_or_default() {
        let error = |message: &str| {
            json!({"contactId": id, "message": message, "type": "error",
                   "oldTags": [], "tagsAdded": [], "tagsRemoved": []})
        };
        if !is_firebase_id(&id) {
            responses.push(error("contact id is not a valid firebase id"));
            continue;
        }
        let Some(c) = store.contacts.get_mut(&id) else {
            responses.push(error("contact is deleted"));
            continue;
        };
        if c.location_id != caller.location_id {
            responses.push(error("contact does not belong to location"));
            continue;
        }
        let old = c.tags.clone();
        if add {
            c.tags = normalise_tags(old.iter().cloned().chain(tags.iter().cloned()));
        } else if remove_all {
            c.tags.clear();
        } else {
            c.tags.retain(|t| !tags.contains(t));
        }
        let added: Vec<&String> = c.tags.iter().filter(|t| !old.contains(t)).collect();
        let removed: Vec<&String> = old.iter().filter(|t| !c.tags.contains(t)).collect();
        responses.push(json!({
            "contactId": id, "message": "Tags updated", "type": "success",
            "oldTags": old, "tagsAdded": added, "tagsRemoved": removed,
        }));
        c.date_updated = store::now_iso();
        if c.tags != old {
            sim.emit([c.webhook_json("ContactTagUpdate")]);
        }
    }
    let errors = responses.iter().filter(|r| r["type"] == "error").count();
    json_with(
        StatusCode::CREATED,
        json!({"succeded": errors == 0, "errorCount": errors, "responses": responses}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_lowercased_and_deduplicated() {
        assert_eq!(
            normalise_tags(["VIP".into(), " vip ".into(), "Lead".into()]),
            vec!["vip".to_owned(), "lead".to_owned()]
        );
    }

    #[test]
    fn every_documented_date_format_is_accepted() {
        for d in [
            "1990/03/07",
            "03/07/1990",
            "1990-03-07",
            "03-07-1990",
            "1990.03.07",
        ] {
            assert_eq!(normalise_date(d).as_deref(), Some("1990-03-07"), "{d}");
        }
        assert_eq!(normalise_date("7th March"), None);
    }
}
