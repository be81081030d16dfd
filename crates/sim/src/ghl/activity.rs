//! A contact's tasks, notes and appointments, the location-wide task search, calendar
//! events and custom field definitions.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
};
use chrono::{DateTime, Duration};
use serde_json::{Map, Value, json};

use super::reply::{Reject, Reply, json_ok, json_with};
use super::{
    Caller, GhlSim,
    model::{Event, Note, Task},
    store::{self, Store},
    validate::{self, Dto, Ty, str_of, strs_of},
};
use crate::seed::GHL_CALENDAR_ID;

const TASK_CREATE: Dto = Dto {
    fields: &[&[
        ("title", Ty::Str),
        ("body", Ty::Str),
        ("dueDate", Ty::Str),
        ("completed", Ty::Bool),
        ("assignedTo", Ty::Str),
    ]],
    required: &["title", "dueDate", "completed"],
};
const TASK_UPDATE: Dto = Dto {
    fields: TASK_CREATE.fields,
    required: &[],
};
const TASK_COMPLETED: Dto = Dto {
    fields: &[&[("completed", Ty::Bool)]],
    required: &["completed"],
};
const TASK_SEARCH: Dto = Dto {
    fields: &[&[
        ("contactId", Ty::StrArray),
        ("completed", Ty::Bool),
        ("assignedTo", Ty::StrArray),
        ("query", Ty::Str),
        ("limit", Ty::Num),
        ("skip", Ty::Num),
        ("businessId", Ty::Str),
    ]],
    required: &[],
};
const NOTE_CREATE: Dto = Dto {
    fields: &[&[
        ("body", Ty::Str),
        ("userId", Ty::Str),
        ("title", Ty::Str),
        ("color", Ty::Str),
        ("pinned", Ty::Bool),
    ]],
    required: &["body"],
};
const NOTE_UPDATE: Dto = Dto {
    fields: NOTE_CREATE.fields,
    required: &[],
};
/// Appointment properties a create and an update share.
const APPOINTMENT_FIELDS: &[(&str, Ty)] = &[
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
];
const APPOINTMENT_CREATE: Dto = Dto {
    fields: &[
        &[("locationId", Ty::Str), ("contactId", Ty::Str)],
        APPOINTMENT_FIELDS,
    ],
    required: &["calendarId", "locationId", "contactId", "startTime"],
};
const APPOINTMENT_UPDATE: Dto = Dto {
    fields: &[APPOINTMENT_FIELDS],
    required: &[],
};
const APPOINTMENT_STATUSES: [&str; 6] = [
    "new",
    "confirmed",
    "cancelled",
    "showed",
    "noshow",
    "invalid",
];
const MEETING_TYPES: [&str; 7] = [
    "custom", "zoom", "gmeet", "phone", "address", "ms_teams", "google",
];

fn iso_ok(s: &str) -> bool {
    DateTime::parse_from_rfc3339(s).is_ok()
}

fn problems_to_response(problems: Vec<String>) -> Result<(), Reject> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Reject::Unprocessable(problems))
    }
}

fn task_in<'a>(store: &'a Store, contact_id: &str, task_id: &str) -> Result<&'a Task, Reject> {
    store
        .tasks
        .get(task_id)
        .filter(|t| t.contact_id == contact_id)
        .ok_or_else(|| Reject::BadRequest(format!("Task with id {task_id} not found")))
}

fn apply_task(t: &mut Task, map: &Map<String, Value>) -> Result<(), Reject> {
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
) -> Reply {
    let store = sim.store();
    store.contact(&caller, &contact_id)?;
    let mut tasks: Vec<&Task> = store
        .tasks
        .values()
        .filter(|t| t.contact_id == contact_id)
        .collect();
    tasks.sort_by(|a, b| a.due_date.cmp(&b.due_date).then(a.id.cmp(&b.id)));
    json_ok(json!({"tasks": tasks}))
}

/// `POST /contacts/{contactId}/tasks` → 201 `{task}`.
pub async fn create_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &TASK_CREATE)?;
    let mut store = sim.store();
    store.contact(&caller, &contact_id)?;
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
    apply_task(&mut task, &map)?;
    let out = json!({"task": task});
    sim.emit([task.webhook_json("TaskCreate", &caller.location_id)]);
    store.tasks.insert(task.id.clone(), task);
    json_with(StatusCode::CREATED, out)
}

/// `GET /contacts/{contactId}/tasks/{taskId}` → `{task}`.
pub async fn get_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> Reply {
    let store = sim.store();
    store.contact(&caller, &contact_id)?;
    let t = task_in(&store, &contact_id, &task_id)?;
    json_ok(json!({"task": t}))
}

fn change_task(
    sim: &GhlSim,
    caller: &Caller,
    contact_id: &str,
    task_id: &str,
    body: &Bytes,
    dto: &Dto,
) -> Reply {
    let map = validate::body(body, dto)?;
    let mut store = sim.store();
    store.contact(caller, contact_id)?;
    let mut task = task_in(&store, contact_id, task_id)?.clone();
    let was_completed = task.completed;
    apply_task(&mut task, &map)?;
    let out = json!({"task": task});
    // GHL has no TaskUpdate event: only completing a task is announced.
    if task.completed && !was_completed {
        sim.emit([task.webhook_json("TaskComplete", &caller.location_id)]);
    }
    store.tasks.insert(task.id.clone(), task);
    json_ok(out)
}

/// `PUT /contacts/{contactId}/tasks/{taskId}` → `{task}`.
pub async fn update_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    change_task(&sim, &caller, &contact_id, &task_id, &body, &TASK_UPDATE)
}

/// `PUT /contacts/{contactId}/tasks/{taskId}/completed` → `{task}`.
pub async fn complete_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    change_task(&sim, &caller, &contact_id, &task_id, &body, &TASK_COMPLETED)
}

/// `DELETE /contacts/{contactId}/tasks/{taskId}` → `{succeded: true}`.
pub async fn delete_task(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> Reply {
    let mut store = sim.store();
    store.contact(&caller, &contact_id)?;
    let gone =
        task_in(&store, &contact_id, &task_id)?.webhook_json("TaskDelete", &caller.location_id);
    store.tasks.remove(&task_id);
    sim.emit([gone]);
    json_ok(json!({"succeded": true}))
}

/// `POST /locations/{locationId}/tasks/search` → `{tasks}`, offset-paged by `skip`/`limit`
/// (default 25), each item with its `contactId`.
pub async fn search_tasks(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &TASK_SEARCH)?;
    if location_id != caller.location_id {
        return Err(Reject::Forbidden);
    }
    let contacts = strs_of(&map, "contactId");
    let assigned = strs_of(&map, "assignedTo");
    let completed = map.get("completed").and_then(Value::as_bool);
    let query = str_of(&map, "query").map(|q| q.to_lowercase());
    let num = |k: &str, d: u64| {
        map.get(k)
            .and_then(Value::as_f64)
            .map_or(d, |f| f.max(0.0) as u64)
    };
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
        .filter(|t| {
            contacts
                .as_ref()
                .is_none_or(|ids| ids.contains(&t.contact_id))
        })
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
    json_ok(json!({"tasks": page}))
}

fn note_in<'a>(store: &'a Store, contact_id: &str, id: &str) -> Result<&'a Note, Reject> {
    store
        .notes
        .get(id)
        .filter(|n| n.contact_id == contact_id)
        .ok_or_else(|| Reject::BadRequest(format!("Note with id {id} not found")))
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
) -> Reply {
    let store = sim.store();
    store.contact(&caller, &contact_id)?;
    let mut notes: Vec<&Note> = store
        .notes
        .values()
        .filter(|n| n.contact_id == contact_id)
        .collect();
    notes.sort_by(|a, b| b.date_added.cmp(&a.date_added).then(a.id.cmp(&b.id)));
    json_ok(json!({"notes": notes}))
}

/// `POST /contacts/{contactId}/notes` → 201 `{note}`.
pub async fn create_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &NOTE_CREATE)?;
    let mut store = sim.store();
    store.contact(&caller, &contact_id)?;
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
    sim.emit([note.webhook_json("NoteCreate", &caller.location_id)]);
    store.notes.insert(note.id.clone(), note);
    json_with(StatusCode::CREATED, out)
}

/// `GET /contacts/{contactId}/notes/{id}` → `{note}`.
pub async fn get_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, id)): Path<(String, String)>,
) -> Reply {
    let store = sim.store();
    store.contact(&caller, &contact_id)?;
    let n = note_in(&store, &contact_id, &id)?;
    json_ok(json!({"note": n}))
}

/// `PUT /contacts/{contactId}/notes/{id}` → `{note}`.
pub async fn update_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &NOTE_UPDATE)?;
    let mut store = sim.store();
    store.contact(&caller, &contact_id)?;
    let mut note = note_in(&store, &contact_id, &id)?.clone();
    apply_note(&mut note, &map);
    let out = json!({"note": note});
    sim.emit([note.webhook_json("NoteUpdate", &caller.location_id)]);
    store.notes.insert(note.id.clone(), note);
    json_ok(out)
}

/// `DELETE /contacts/{contactId}/notes/{id}` → `{succeded: true}`.
pub async fn delete_note(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, id)): Path<(String, String)>,
) -> Reply {
    let mut store = sim.store();
    store.contact(&caller, &contact_id)?;
    let gone = note_in(&store, &contact_id, &id)?.webhook_json("NoteDelete", &caller.location_id);
    store.notes.remove(&id);
    sim.emit([gone]);
    json_ok(json!({"succeded": true}))
}

/// `GET /contacts/{contactId}/appointments` → `{events}` (no paging).
pub async fn contact_appointments(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> Reply {
    let store = sim.store();
    store.contact(&caller, &contact_id)?;
    let mut events: Vec<&Event> = store
        .events
        .values()
        .filter(|e| e.contact_id == contact_id)
        .collect();
    events.sort_by(|a, b| a.start_time.cmp(&b.start_time).then(a.id.cmp(&b.id)));
    let events: Vec<Value> = events.iter().map(|e| e.contact_list_json()).collect();
    json_ok(json!({"events": events}))
}

fn apply_event(e: &mut Event, map: &Map<String, Value>) -> Result<(), Reject> {
    let mut problems = Vec::new();
    if let Some(c) = str_of(map, "calendarId") {
        if c == GHL_CALENDAR_ID {
            e.calendar_id = c;
        } else {
            return Err(Reject::BadRequest(format!(
                "Calendar with id {c} not found"
            )));
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

fn event_of<'a>(store: &'a Store, caller: &Caller, id: &str) -> Result<&'a Event, Reject> {
    let e = store
        .events
        .get(id)
        .ok_or_else(|| Reject::BadRequest(format!("Appointment with id {id} not found")))?;
    if e.location_id != caller.location_id {
        return Err(Reject::Forbidden);
    }
    Ok(e)
}

/// `POST /calendars/events/appointments` → 200 with the flat appointment. An owner
/// (`assignedUserId`) is required in practice (issue #23).
pub async fn create_appointment(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &APPOINTMENT_CREATE)?;
    if str_of(&map, "locationId").as_deref() != Some(caller.location_id.as_str()) {
        return Err(Reject::Forbidden);
    }
    if str_of(&map, "assignedUserId").is_none() {
        return Err(Reject::Unprocessable(vec![
            "assignedUserId should not be empty".into(),
        ]));
    }
    let mut store = sim.store();
    let contact_id = str_of(&map, "contactId").unwrap_or_default();
    store.contact(&caller, &contact_id)?;
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
    apply_event(&mut event, &map)?;
    let out = event.flat_json();
    sim.emit([event.webhook_json("AppointmentCreate")]);
    store.events.insert(event.id.clone(), event);
    json_ok(out)
}

/// `GET /calendars/events/appointments/{eventId}` → `{event}`.
pub async fn get_appointment(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let store = sim.store();
    let e = event_of(&store, &caller, &id)?;
    json_ok(json!({"event": e.calendar_json()}))
}

/// `PUT /calendars/events/appointments/{eventId}` → 200 with the flat appointment.
pub async fn update_appointment(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &APPOINTMENT_UPDATE)?;
    let mut store = sim.store();
    let mut event = event_of(&store, &caller, &id)?.clone();
    apply_event(&mut event, &map)?;
    event.date_updated = store::now_iso();
    let out = event.flat_json();
    sim.emit([event.webhook_json("AppointmentUpdate")]);
    store.events.insert(event.id.clone(), event);
    json_ok(out)
}

/// `DELETE /calendars/events/{eventId}` → **201** `{succeeded: true}`.
pub async fn delete_event(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = sim.store();
    let gone = event_of(&store, &caller, &id)?.webhook_json("AppointmentDelete");
    store.events.remove(&id);
    sim.emit([gone]);
    json_with(StatusCode::CREATED, json!({"succeeded": true}))
}

/// `GET /locations/{locationId}/customFields?model=contact|opportunity|all` → `{customFields}`.
pub async fn custom_fields(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    Path(location_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    validate::query(&q, &["model"], &[])?;
    if location_id != caller.location_id {
        return Err(Reject::Forbidden);
    }
    let model = q.get("model").map_or("all", String::as_str);
    let store = sim.store();
    let fields: Vec<_> = store
        .custom_fields
        .iter()
        .filter(|f| f.location_id == location_id && (model == "all" || f.model == model))
        .collect();
    json_ok(json!({"customFields": fields}))
}
