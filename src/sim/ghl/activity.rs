//! A contact's tasks, notes and appointments, the location-wide task search, calendar
//! events and custom field definitions.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration};
use serde_json::{Map, Value, json};

use super::{
    Caller, GhlSim,
    model::{Event, Note, Task},
    store::{self, Store},
    validate::{self, Dto, Ty, str_of, strs_of},
};
use crate::sim::seed::GHL_CALENDAR_ID;

const TASK_CREATE: Dto = Dto {
    fields: &[
        ("title", Ty::Str),
        ("body", Ty::Str),
        ("dueDate", Ty::Str),
        ("completed", Ty::Bool),
        ("assignedTo", Ty::Str),
    ],
    required: &["title", "dueDate", "completed"],
};
const TASK_UPDATE: Dto = Dto {
    fields: TASK_CREATE.fields,
    required: &[],
};
const TASK_COMPLETED: Dto = Dto {
    fields: &[("completed", Ty::Bool)],
    required: &["completed"],
};
const TASK_SEARCH: Dto = Dto {
    fields: &[
        ("contactId", Ty::StrArray),
        ("completed", Ty::Bool),
        ("assignedTo", Ty::StrArray),
        ("query", Ty::Str),
        ("limit", Ty::Num),
        ("skip", Ty::Num),
        ("businessId", Ty::Str),
    ],
    required: &[],
};
const NOTE_CREATE: Dto = Dto {
    fields: &[
        ("body", Ty::Str),
        ("userId", Ty::Str),
        ("title", Ty::Str),
        ("color", Ty::Str),
        ("pinned", Ty::Bool),
    ],
    required: &["body"],
};
const NOTE_UPDATE: Dto = Dto {
    fields: NOTE_CREATE.fields,
    required: &[],
};
const APPOINTMENT_CREATE: Dto = Dto {
    fields: &[
        ("calendarId", Ty::Str),
        ("locationId", Ty::Str),
        ("contactId", Ty::Str),
        ("startTime", Ty::Str),
        ("endTime", Ty::Str),
        ("title", Ty::Str),
        ("meetingLocationType", Ty::Str),
        ("meetingLocationId", Ty::Str),
        ("overrideLocationConfig", Ty::Bool),
        ("appointmentStatus", Ty::Str),
        ("assignedUserId", Ty::Str),
        ("description", Ty::Str),
        ("address", Ty::Str),
        ("ignoreDateRange", Ty::Bool),
        ("toNotify", Ty::Bool),
        ("ignoreFreeSlotValidation", Ty::Bool),
        ("rrule", Ty::Str),
    ],
    required: &["calendarId", "locationId", "contactId", "startTime"],
};
const APPOINTMENT_UPDATE: Dto = Dto {
    fields: &[
        ("calendarId", Ty::Str),
        ("startTime", Ty::Str),
        ("endTime", Ty::Str),
        ("title", Ty::Str),
        ("meetingLocationType", Ty::Str),
        ("meetingLocationId", Ty::Str),
        ("overrideLocationConfig", Ty::Bool),
        ("appointmentStatus", Ty::Str),
        ("assignedUserId", Ty::Str),
        ("description", Ty::Str),
        ("address", Ty::Str),
        ("ignoreDateRange", Ty::Bool),
        ("toNotify", Ty::Bool),
        ("ignoreFreeSlotValidation", Ty::Bool),
        ("rrule", Ty::Str),
    ],
    required: &[],
};
const APPOINTMENT_STATUSES: [&str; 6] = ["new", "confirmed", "cancelled", "showed", "noshow", "invalid"];
const MEETING_TYPES: [&str; 7] = ["custom", "zoom", "gmeet", "phone", "address", "ms_teams", "google"];

fn iso_ok(s: &str) -> bool {
    DateTime::parse_from_rfc3339(s).is_ok()
}

fn problems_to_response(problems: Vec<String>) -> Result<(), Response> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(validate::unprocessable(problems))
    }
}

fn task_in<'a>(store: &'a Store, contact_id: &str, task_id: &str) -> Result<&'a Task, Response> {
    store
        .tasks
        .get(task_id)
        .filter(|t| t.contact_id == contact_id)
        .ok_or_else(|| validate::bad_request(format!("Task with id {task_id} not found")))
}

fn apply_task(t: &mut Task, map: &Map<String, Value>) -> Result<(), Response> {
    let mut problems = Vec::new();
    if let Some(d) = str_of(map, "dueDate") {
        if iso_ok(&d) {
            t.due_date = d;
        } else {
            problems.push("dueDate must be a valid ISO 8601 date string".into());
        }
    }
    if let Some(v) = str_of(map, "title") {
        t.title = v;
    }
    if map.contains_key("body") {
        t.body = str_of(map, "body");
    }
    if map.contains_key("assignedTo") {
        t.assigned_to = str_of(map, "assignedTo");
    }
    if let Some(c) = map.get("completed").and_then(Value::as_bool) {
        t.completed = c;
    }
    problems_to_response(problems)
}

/// `GET /contacts/{contactId}/tasks` → `{tasks}` (no paging).
pub async fn list_tasks(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> Response {
    let store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let mut tasks: Vec<&Task> = store
        .tasks
        .values()
        .filter(|t| t.contact_id == contact_id)
        .collect();
    tasks.sort_by(|a, b| a.due_date.cmp(&b.due_date).then(a.id.cmp(&b.id)));
    Json(json!({"tasks": tasks})).into_response()
}

/// `POST /contacts/{contactId}/tasks` → 201 `{task}`.
pub async fn create_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Response {
    let map = match validate::body(&body, &TASK_CREATE) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let mut task = Task {
        id: store.new_id(),
        title: String::new(),
        body: None,
        assigned_to: None,
        due_date: String::new(),
        completed: false,
        contact_id,
        date_added: store::now_iso(),
    };
    if let Err(r) = apply_task(&mut task, &map) {
        return r;
    }
    let out = json!({"task": task});
    store.tasks.insert(task.id.clone(), task);
    (StatusCode::CREATED, Json(out)).into_response()
}

/// `GET /contacts/{contactId}/tasks/{taskId}` → `{task}`.
pub async fn get_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> Response {
    let store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    match task_in(&store, &contact_id, &task_id) {
        Ok(t) => Json(json!({"task": t})).into_response(),
        Err(r) => r,
    }
}

fn change_task(
    sim: &GhlSim,
    caller: &Caller,
    contact_id: &str,
    task_id: &str,
    body: &Bytes,
    dto: &Dto,
) -> Response {
    let map = match validate::body(body, dto) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut store = sim.store();
    if let Err(r) = store.contact(caller, contact_id) {
        return r;
    }
    let mut task = match task_in(&store, contact_id, task_id) {
        Ok(t) => t.clone(),
        Err(r) => return r,
    };
    if let Err(r) = apply_task(&mut task, &map) {
        return r;
    }
    let out = json!({"task": task});
    store.tasks.insert(task.id.clone(), task);
    Json(out).into_response()
}

/// `PUT /contacts/{contactId}/tasks/{taskId}` → `{task}`.
pub async fn update_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change_task(&sim, &caller, &contact_id, &task_id, &body, &TASK_UPDATE)
}

/// `PUT /contacts/{contactId}/tasks/{taskId}/completed` → `{task}`.
pub async fn complete_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change_task(&sim, &caller, &contact_id, &task_id, &body, &TASK_COMPLETED)
}

/// `DELETE /contacts/{contactId}/tasks/{taskId}` → `{succeded: true}`.
pub async fn delete_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> Response {
    let mut store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    if let Err(r) = task_in(&store, &contact_id, &task_id) {
        return r;
    }
    store.tasks.remove(&task_id);
    Json(json!({"succeded": true})).into_response()
}

/// `POST /locations/{locationId}/tasks/search` → `{tasks}`, offset-paged by `skip`/`limit`
/// (default 25), each item with its `contactId`.
pub async fn search_tasks(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Response {
    let map = match validate::body(&body, &TASK_SEARCH) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if location_id != caller.location_id {
        return store::forbidden();
    }
    let contacts = strs_of(&map, "contactId");
    let assigned = strs_of(&map, "assignedTo");
    let completed = map.get("completed").and_then(Value::as_bool);
    let query = str_of(&map, "query").map(|q| q.to_lowercase());
    let num = |k: &str, d: u64| map.get(k).and_then(Value::as_f64).map_or(d, |f| f.max(0.0) as u64);
    let (limit, skip) = (num("limit", 25), num("skip", 0));
    let store = sim.store();
    let mut tasks: Vec<&Task> = store
        .tasks
        .values()
        .filter(|t| {
            store
                .contacts
                .get(&t.contact_id)
                .is_some_and(|c| c.location_id == location_id)
        })
        .filter(|t| contacts.as_ref().is_none_or(|ids| ids.contains(&t.contact_id)))
        .filter(|t| {
            assigned
                .as_ref()
                .is_none_or(|ids| t.assigned_to.as_ref().is_some_and(|a| ids.contains(a)))
        })
        .filter(|t| completed.is_none_or(|c| t.completed == c))
        .filter(|t| {
            query
                .as_ref()
                .is_none_or(|q| t.title.to_lowercase().contains(q))
        })
        .collect();
    tasks.sort_by(|a, b| a.due_date.cmp(&b.due_date).then(a.id.cmp(&b.id)));
    let page: Vec<&Task> = tasks
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Json(json!({"tasks": page})).into_response()
}

fn note_in<'a>(store: &'a Store, contact_id: &str, id: &str) -> Result<&'a Note, Response> {
    store
        .notes
        .get(id)
        .filter(|n| n.contact_id == contact_id)
        .ok_or_else(|| validate::bad_request(format!("Note with id {id} not found")))
}

fn apply_note(n: &mut Note, map: &Map<String, Value>) {
    if let Some(b) = str_of(map, "body") {
        n.body = b;
    }
    for (key, slot) in [
        ("userId", &mut n.user_id),
        ("title", &mut n.title),
        ("color", &mut n.color),
    ] {
        if map.contains_key(key) {
            *slot = str_of(map, key);
        }
    }
    if let Some(p) = map.get("pinned").and_then(Value::as_bool) {
        n.pinned = p;
    }
}

/// `GET /contacts/{contactId}/notes` → `{notes}` (no paging).
pub async fn list_notes(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> Response {
    let store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let mut notes: Vec<&Note> = store
        .notes
        .values()
        .filter(|n| n.contact_id == contact_id)
        .collect();
    notes.sort_by(|a, b| b.date_added.cmp(&a.date_added).then(a.id.cmp(&b.id)));
    Json(json!({"notes": notes})).into_response()
}

/// `POST /contacts/{contactId}/notes` → 201 `{note}`.
pub async fn create_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Response {
    let map = match validate::body(&body, &NOTE_CREATE) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let mut note = Note {
        id: store.new_id(),
        body: String::new(),
        user_id: None,
        date_added: store::now_iso(),
        contact_id,
        title: None,
        color: None,
        pinned: false,
    };
    apply_note(&mut note, &map);
    let out = json!({"note": note});
    store.notes.insert(note.id.clone(), note);
    (StatusCode::CREATED, Json(out)).into_response()
}

/// `GET /contacts/{contactId}/notes/{id}` → `{note}`.
pub async fn get_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, id)): Path<(String, String)>,
) -> Response {
    let store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    match note_in(&store, &contact_id, &id) {
        Ok(n) => Json(json!({"note": n})).into_response(),
        Err(r) => r,
    }
}

/// `PUT /contacts/{contactId}/notes/{id}` → `{note}`.
pub async fn update_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let map = match validate::body(&body, &NOTE_UPDATE) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let mut note = match note_in(&store, &contact_id, &id) {
        Ok(n) => n.clone(),
        Err(r) => return r,
    };
    apply_note(&mut note, &map);
    let out = json!({"note": note});
    store.notes.insert(note.id.clone(), note);
    Json(out).into_response()
}

/// `DELETE /contacts/{contactId}/notes/{id}` → `{succeded: true}`.
pub async fn delete_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, id)): Path<(String, String)>,
) -> Response {
    let mut store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    if let Err(r) = note_in(&store, &contact_id, &id) {
        return r;
    }
    store.notes.remove(&id);
    Json(json!({"succeded": true})).into_response()
}

/// `GET /contacts/{contactId}/appointments` → `{events}` (no paging).
pub async fn contact_appointments(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> Response {
    let store = sim.store();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let mut events: Vec<&Event> = store
        .events
        .values()
        .filter(|e| e.contact_id == contact_id)
        .collect();
    events.sort_by(|a, b| a.start_time.cmp(&b.start_time).then(a.id.cmp(&b.id)));
    let events: Vec<Value> = events.iter().map(|e| e.contact_list_json()).collect();
    Json(json!({"events": events})).into_response()
}

fn apply_event(e: &mut Event, map: &Map<String, Value>) -> Result<(), Response> {
    let mut problems = Vec::new();
    if let Some(c) = str_of(map, "calendarId") {
        if c == GHL_CALENDAR_ID {
            e.calendar_id = c;
        } else {
            return Err(validate::bad_request(format!("Calendar with id {c} not found")));
        }
    }
    let start = str_of(map, "startTime");
    if let Some(s) = &start {
        if iso_ok(s) {
            e.start_time.clone_from(s);
        } else {
            problems.push("startTime must be a valid ISO 8601 date string".into());
        }
    }
    match str_of(map, "endTime") {
        Some(end) if iso_ok(&end) => e.end_time = end,
        Some(_) => problems.push("endTime must be a valid ISO 8601 date string".into()),
        None if start.is_some() => {
            if let Ok(s) = DateTime::parse_from_rfc3339(&e.start_time) {
                e.end_time = (s + Duration::minutes(30)).to_rfc3339();
            }
        }
        None => {}
    }
    if let (Ok(s), Ok(end)) = (
        DateTime::parse_from_rfc3339(&e.start_time),
        DateTime::parse_from_rfc3339(&e.end_time),
    ) && end <= s
    {
        problems.push("endTime must be after startTime".into());
    }
    if let Some(s) = str_of(map, "appointmentStatus") {
        if APPOINTMENT_STATUSES.contains(&s.as_str()) {
            e.appointment_status = s;
        } else {
            problems.push(format!(
                "appointmentStatus must be one of the following values: {}",
                APPOINTMENT_STATUSES.join(", ")
            ));
        }
    }
    if let Some(t) = str_of(map, "meetingLocationType") {
        if MEETING_TYPES.contains(&t.as_str()) {
            e.meeting_location_type = Some(t);
        } else {
            problems.push(format!(
                "meetingLocationType must be one of the following values: {}",
                MEETING_TYPES.join(", ")
            ));
        }
    }
    if let Some(v) = str_of(map, "title") {
        e.title = v;
    }
    if let Some(v) = str_of(map, "assignedUserId") {
        e.assigned_user_id = v;
    }
    if map.contains_key("address") {
        e.address = str_of(map, "address");
        if e.meeting_location_type.is_none() {
            e.meeting_location_type = Some("custom".into());
        }
    }
    if map.contains_key("description") {
        e.description = str_of(map, "description");
    }
    problems_to_response(problems)
}

fn event_of<'a>(store: &'a Store, caller: &Caller, id: &str) -> Result<&'a Event, Response> {
    let e = store
        .events
        .get(id)
        .ok_or_else(|| validate::bad_request(format!("Appointment with id {id} not found")))?;
    if e.location_id != caller.location_id {
        return Err(store::forbidden());
    }
    Ok(e)
}

/// `POST /calendars/events/appointments` → 200 with the flat appointment. An owner
/// (`assignedUserId`) is required in practice (issue #23).
pub async fn create_appointment(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let map = match validate::body(&body, &APPOINTMENT_CREATE) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if str_of(&map, "locationId").as_deref() != Some(caller.location_id.as_str()) {
        return store::forbidden();
    }
    if str_of(&map, "assignedUserId").is_none() {
        return validate::unprocessable(vec!["assignedUserId should not be empty".into()]);
    }
    let mut store = sim.store();
    let contact_id = str_of(&map, "contactId").unwrap_or_default();
    if let Err(r) = store.contact(&caller, &contact_id) {
        return r;
    }
    let now = store::now_iso();
    let mut event = Event {
        id: store.new_id(),
        calendar_id: String::new(),
        location_id: caller.location_id.clone(),
        contact_id,
        title: "Appointment".into(),
        appointment_status: "new".into(),
        assigned_user_id: String::new(),
        address: None,
        notes: None,
        description: None,
        meeting_location_type: None,
        start_time: String::new(),
        end_time: String::new(),
        date_added: now.clone(),
        date_updated: now,
    };
    if let Err(r) = apply_event(&mut event, &map) {
        return r;
    }
    let out = event.flat_json();
    store.events.insert(event.id.clone(), event);
    Json(out).into_response()
}

/// `GET /calendars/events/appointments/{eventId}` → `{event}`.
pub async fn get_appointment(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match event_of(&sim.store(), &caller, &id) {
        Ok(e) => Json(json!({"event": e.calendar_json()})).into_response(),
        Err(r) => r,
    }
}

/// `PUT /calendars/events/appointments/{eventId}` → 200 with the flat appointment.
pub async fn update_appointment(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let map = match validate::body(&body, &APPOINTMENT_UPDATE) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut store = sim.store();
    let mut event = match event_of(&store, &caller, &id) {
        Ok(e) => e.clone(),
        Err(r) => return r,
    };
    if let Err(r) = apply_event(&mut event, &map) {
        return r;
    }
    event.date_updated = store::now_iso();
    let out = event.flat_json();
    store.events.insert(event.id.clone(), event);
    Json(out).into_response()
}

/// `DELETE /calendars/events/{eventId}` → **201** `{succeeded: true}`.
pub async fn delete_event(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let mut store = sim.store();
    if let Err(r) = event_of(&store, &caller, &id) {
        return r;
    }
    store.events.remove(&id);
    (StatusCode::CREATED, Json(json!({"succeeded": true}))).into_response()
}

/// `GET /locations/{locationId}/customFields?model=contact|opportunity|all` → `{customFields}`.
pub async fn custom_fields(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(location_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = validate::query(&q, &["model"], &[]) {
        return r;
    }
    if location_id != caller.location_id {
        return store::forbidden();
    }
    let model = q.get("model").map_or("all", String::as_str);
    let store = sim.store();
    let fields: Vec<_> = store
        .custom_fields
        .iter()
        .filter(|f| f.location_id == location_id && (model == "all" || f.model == model))
        .collect();
    Json(json!({"customFields": fields})).into_response()
}
