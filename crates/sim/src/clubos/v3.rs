//! The v3 routes (`api.club-os.io` shape): users, events and locations, behind the
//! documented `x-api-key` header.

use std::{cmp::Ordering, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, Request, State},
    http::{HeaderMap, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value};

use super::{
    ClubOsSim,
    http::{
        Params, Reject, Reply, bad_request, cmp_instants, json_body, now_iso, parse_instant,
        spring_error,
    },
    model::{Attendee, Event, Role, User, UserOrigin},
    store::{digits, email_matches, phone_matches},
};
use crate::seed::{CLUBOS_SALESPERSON_ID, iso_s};

/// Longest first or last name; longer ones fail on the database column (observed).
const MAX_NAME_CHARS: usize = 50;

pub(super) fn routes(sim: Arc<ClubOsSim>) -> Router {
    Router::new()
        .route("/users", get(search_users).post(create_user))
        .route("/users/{userId}", get(get_user).put(update_user))
        .route("/events", get(search_events).post(create_event))
        .route("/locations", get(list_locations))
        .route("/locations/{locationId}", get(get_location))
        .with_state(sim)
}

/// Rejects requests without the configured `x-api-key` (documented header). The 401 and
/// its Spring-style body (`"message": "Invalid API key"`) are *inferred*: the docs do not
/// say what a bad key gets.
pub(super) async fn require_api_key(
    State(sim): State<Arc<ClubOsSim>>,
    req: Request,
    next: Next,
) -> Response {
    let ok = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| k == sim.cfg.api_key);
    if !ok {
        return spring_error(
            StatusCode::UNAUTHORIZED,
            "Invalid API key",
            req.uri().path(),
        )
        .into_response();
    }
    next.run(req).await
}

fn path_id(raw: &str, name: &str, path: &str) -> Reply<i64> {
    raw.parse().map_err(|_| {
        spring_error(
            StatusCode::BAD_REQUEST,
            &format!("Failed to convert value of path variable '{name}'"),
            path,
        )
    })
}

/// The fields `?limited=true` keeps. *Inferred*: the observed limited view is "a subset"
/// whose exact field list is unknown.
const LIMITED_FIELDS: &[&str] = &[
    "userId",
    "clubId",
    "locationId",
    "role",
    "email",
    "homePhone",
    "mobilePhone",
    "workPhone",
    "gender",
    "firstName",
    "lastName",
    "timeZone",
    "profilePicHash",
];

fn render_user(u: &User, limited: bool) -> Value {
    let full = serde_json::to_value(u).unwrap_or(Value::Null);
    match full {
        Value::Object(m) if limited => Value::Object(
            m.into_iter()
                .filter(|(k, _)| LIMITED_FIELDS.contains(&k.as_str()))
                .collect(),
        ),
        v => v,
    }
}

/// `GET /users/{userId}` (observed). Unknown and soft-deleted users get a Spring 404
/// (`"message": "User not found"`, *inferred*).
async fn get_user(
    State(sim): State<Arc<ClubOsSim>>,
    Path(raw_id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let params = Params::new(query.as_deref(), uri.path());
    let id = path_id(&raw_id, "userId", uri.path())?;
    let limited = params
        .get("limited")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let store = sim.store();
    let user = store
        .live_user(id)
        .ok_or_else(|| spring_error(StatusCode::NOT_FOUND, "User not found", uri.path()))?;
    Ok(Json(render_user(user, limited)).into_response())
}

/// `GET /users`: paged user search. *Inferred* (the overview advertises "searching
/// users"); `locationId` mirrors `/locations`, and the email, phone and updated-since
/// parameter names come from the configuration because the real ones are unknown.
async fn search_users(
    State(sim): State<Arc<ClubOsSim>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let params = Params::new(query.as_deref(), uri.path());
    let paging = params.paging(
        "userId",
        &["userId", "updatedDate", "lastName", "createdDate"],
    )?;
    let location: Option<i64> = params.parse("locationId")?;
    let email = params.get(&sim.cfg.email_param);
    let phone = params.get(&sim.cfg.phone_param);
    let since = params.instant(&sim.cfg.updated_since_param)?;
    let store = sim.store();
    let mut found: Vec<&User> = store
        .live_users()
        .filter(|u| location.is_none_or(|l| u.location_id == l))
        .filter(|u| email.is_none_or(|e| email_matches(u, e)))
        .filter(|u| phone.is_none_or(|p| phone_matches(u, p)))
        .filter(|u| {
            since.is_none_or(|s| {
                u.updated_date
                    .as_deref()
                    .or(Some(u.created_date.as_str()))
                    .and_then(parse_instant)
                    .is_some_and(|t| t >= s)
            })
        })
        .collect();
    found.sort_by(|a, b| {
        let asc = match paging.sort_on {
            "updatedDate" => cmp_instants(a.updated_date.as_deref(), b.updated_date.as_deref()),
            "createdDate" => cmp_instants(Some(&a.created_date), Some(&b.created_date)),
            "lastName" => a.last_name.to_lowercase().cmp(&b.last_name.to_lowercase()),
            _ => Ordering::Equal,
        };
        paging.order(asc.then(a.user_id.cmp(&b.user_id)))
    });
    Ok(paging.envelope(found))
}

/// Typed access to a JSON object body; a wrong type is the observed `messages`-style 400.
struct Body(Map<String, Value>);

impl Body {
    fn from_value(v: Value) -> Reply<Self> {
        match v {
            Value::Object(m) => Ok(Self(m)),
            _ => Err(bad_request(
                "JSON_PARSE_ERROR",
                "JSON parse error: the body must be an object",
            )),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn wrong_type(key: &str, want: &str) -> Reject {
        bad_request("INVALID_FIELD", &format!("{key} must be {want}"))
    }

    /// Strings, trimmed; absent, null or blank is `None`. Numbers are accepted as text
    /// because a phone was once observed as a JSON number.
    fn text(&self, key: &str) -> Reply<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Self::wrong_type(key, "a string")),
        }
    }

    /// A phone, stored digits-only.
    fn phone(&self, key: &str) -> Reply<Option<String>> {
        Ok(self
            .text(key)?
            .map(|p| digits(&p))
            .filter(|d| !d.is_empty()))
    }

    fn int(&self, key: &str) -> Reply<Option<i64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::wrong_type(key, "an integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Self::wrong_type(key, "an integer")),
            Some(_) => Err(Self::wrong_type(key, "an integer")),
        }
    }

    fn boolean(&self, key: &str) -> Reply<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(key, "a boolean")),
        }
    }

    fn required_name(&self, key: &str, column: &str) -> Reply<String> {
        let name = self
            .text(key)?
            .ok_or_else(|| bad_request("MISSING_REQUIRED_FIELD", &format!("{key} is required")))?;
        check_name_len(&name, column)?;
        Ok(name)
    }

    fn role(&self) -> Reply<Role> {
        let Some(v) = self.0.get("role").filter(|v| !v.is_null()) else {
            return Ok(Role::prospect());
        };
        let Value::Object(m) = v else {
            return Err(Self::wrong_type("role", "an object {id, name}"));
        };
        let role = Body(m.clone());
        let id = role.text("id")?.unwrap_or_else(|| "99".into());
        Ok(match id.as_str() {
            "98" => Role::member(),
            "99" => Role::prospect(),
            _ => Role {
                id,
                name: role.text("name")?.unwrap_or_default(),
            },
        })
    }

    fn origin(&self) -> Reply<Option<UserOrigin>> {
        match self.0.get("userOrigin") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| Self::wrong_type("userOrigin", "an object {originId, originName}")),
        }
    }
}

/// Names longer than the column fail as the observed MySQL error does.
fn check_name_len(name: &str, column: &str) -> Reply<()> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_request(
            &format!("DATA TOO LONG FOR COLUMN '{column}'"),
            "could not execute statement",
        ));
    }
    Ok(())
}

/// `POST /users` (observed body and duplicate 400). Answers 200 with the created user:
/// the observed client reads the full user back, the status code itself is *inferred*
/// (Spring's default).
async fn create_user(
    State(sim): State<Arc<ClubOsSim>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let b = Body::from_value(json_body(&headers, &body, uri.path())?)?;
    let first_name = b.required_name("firstName", "FIRST_NAME")?;
    let last_name = b.required_name("lastName", "LAST_NAME")?;
    let email = b.text("email")?;
    let mobile_phone = b.phone("mobilePhone")?;
    let home_phone = b.phone("homePhone")?;
    let work_phone = b.phone("workPhone")?;
    let phones: Vec<String> = [&mobile_phone, &home_phone, &work_phone]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if email.is_none() && phones.is_empty() {
        return Err(bad_request(
            "MISSING_REQUIRED_FIELD",
            "email or a phone (mobilePhone, homePhone, workPhone) is required",
        ));
    }
    let role = b.role()?;
    let user_origin = b.origin()?;
    let location_id = b.int("locationId")?;
    let salesperson_id = b.int("salespersonId")?;
    let sms_opt_out = b.boolean("smsOptOut")?.unwrap_or(false);
    let email_opt_out = b.boolean("emailOptOut")?.unwrap_or(false);
    let gender = b.text("gender")?.unwrap_or_else(|| "M".into());
    let (source, birth_date, barcode) =
        (b.text("source")?, b.text("birthDate")?, b.text("barcode")?);
    let (address1, address2) = (b.text("address1")?, b.text("address2")?);
    let (city, state, zip) = (b.text("city")?, b.text("state")?, b.text("zip")?);

    let mut store = sim.store();
    let location = match location_id {
        None => store.locations.first(),
        Some(id) => store.location(id),
    }
    .cloned()
    .ok_or_else(|| {
        bad_request(
            "INVALID_LOCATION",
            "locationId is not a location of this club",
        )
    })?;
    if let Some(existing) = store.find_duplicate(&first_name, &last_name, email.as_deref(), &phones)
    {
        let body = serde_json::json!({"status": 400, "code": "DUPLICATE_USER", "user": existing});
        return Err(Reject::new(
            (StatusCode::BAD_REQUEST, Json(body)).into_response(),
        ));
    }
    let now = now_iso();
    let prospect = role == Role::prospect();
    let user = User {
        user_id: store.next_user_id(),
        club_id: location.club_id,
        location_id: location.location_id,
        role,
        email,
        home_phone,
        mobile_phone,
        work_phone,
        gender,
        first_name,
        last_name,
        created_by: None,
        created_date: now.clone(),
        birth_date,
        join_date: None,
        deleted_at: None,
        updated_date: Some(now),
        source,
        address1,
        address2,
        city,
        state,
        zip,
        barcode,
        time_zone: location.time_zone.clone(),
        email_opt_out,
        sms_opt_out,
        user_origin,
        salesperson_id,
        // *Inferred*: Club OS computes follow-up statuses; a new prospect starts as a lead.
        membership_followup_status: prospect.then(|| "Lead".to_owned()),
        membership_status: None,
        membership_type: None,
        external_system_ids: Vec::new(),
    };
    let rendered = render_user(&user, false);
    store.users.insert(user.user_id, user);
    Ok(Json(rendered).into_response())
}

/// `PUT /users/{userId}`: partial update of contact fields. *Inferred* (nothing about
/// v3 updates is documented): absent fields are kept, `null` clears an optional field,
/// names follow the create rules, and the answer is the updated user.
async fn update_user(
    State(sim): State<Arc<ClubOsSim>>,
    Path(raw_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let id = path_id(&raw_id, "userId", uri.path())?;
    let b = Body::from_value(json_body(&headers, &body, uri.path())?)?;
    let mut store = sim.store();
    let mut user = store
        .live_user(id)
        .cloned()
        .ok_or_else(|| spring_error(StatusCode::NOT_FOUND, "User not found", uri.path()))?;
    if b.has("firstName") {
        user.first_name = b.required_name("firstName", "FIRST_NAME")?;
    }
    if b.has("lastName") {
        user.last_name = b.required_name("lastName", "LAST_NAME")?;
    }
    if b.has("gender")
        && let Some(g) = b.text("gender")?
    {
        user.gender = g;
    }
    let phones: [(&str, &mut Option<String>); 3] = [
        ("homePhone", &mut user.home_phone),
        ("mobilePhone", &mut user.mobile_phone),
        ("workPhone", &mut user.work_phone),
    ];
    for (key, slot) in phones {
        if b.has(key) {
            *slot = b.phone(key)?;
        }
    }
    let texts: [(&str, &mut Option<String>); 8] = [
        ("email", &mut user.email),
        ("address1", &mut user.address1),
        ("address2", &mut user.address2),
        ("city", &mut user.city),
        ("state", &mut user.state),
        ("zip", &mut user.zip),
        ("birthDate", &mut user.birth_date),
        ("barcode", &mut user.barcode),
    ];
    for (key, slot) in texts {
        if b.has(key) {
            *slot = b.text(key)?;
        }
    }
    user.updated_date = Some(now_iso());
    let rendered = render_user(&user, false);
    store.users.insert(id, user);
    Ok(Json(rendered).into_response())
}

/// `GET /events`: paged event search. *Inferred* (the overview advertises "searching
/// events"; the parameter names come from the observed availability calls). `userId`
/// matches attendees and the owner; `startTimeStart` is inclusive and `startTimeEnd`
/// exclusive on the event's start.
async fn search_events(
    State(sim): State<Arc<ClubOsSim>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let params = Params::new(query.as_deref(), uri.path());
    let paging = params.paging("startTime", &["startTime", "endTime", "eventId"])?;
    let user: Option<i64> = params.parse("userId")?;
    let location: Option<i64> = params.parse("locationId")?;
    let types: Vec<i64> = params.parse_all("eventTypeId")?;
    let from = params.instant("startTimeStart")?;
    let until = params.instant("startTimeEnd")?;
    let store = sim.store();
    let mut found: Vec<&Event> = store
        .events
        .iter()
        .filter(|e| {
            user.is_none_or(|u| {
                e.event_owner_id == u || e.attendee.iter().any(|a| a.attendee_id == u)
            })
        })
        .filter(|e| location.is_none_or(|l| e.location_id == l))
        .filter(|e| types.is_empty() || types.contains(&e.event_type_id))
        .filter(|e| {
            let start = parse_instant(&e.start_time);
            from.is_none_or(|f| start.is_some_and(|s| s >= f))
                && until.is_none_or(|u| start.is_some_and(|s| s < u))
        })
        .collect();
    found.sort_by(|a, b| {
        let asc = match paging.sort_on {
            "startTime" => cmp_instants(Some(&a.start_time), Some(&b.start_time)),
            "endTime" => cmp_instants(Some(&a.end_time), Some(&b.end_time)),
            _ => Ordering::Equal,
        };
        paging.order(asc.then(a.event_id.cmp(&b.event_id)))
    });
    Ok(paging.envelope(found))
}

fn required<T>(v: Option<T>, key: &str) -> Reply<T> {
    v.ok_or_else(|| bad_request("MISSING_REQUIRED_FIELD", &format!("{key} is required")))
}

fn parse_attendees(b: &Body) -> Reply<Vec<Attendee>> {
    let Some(Value::Array(items)) = b.0.get("attendee").filter(|v| !v.is_null()) else {
        return Err(match b.0.get("attendee") {
            None | Some(Value::Null) => {
                bad_request("MISSING_REQUIRED_FIELD", "attendee is required")
            }
            Some(_) => Body::wrong_type("attendee", "an array"),
        });
    };
    if items.is_empty() {
        return Err(bad_request(
            "MISSING_REQUIRED_FIELD",
            "attendee must name at least one attendee",
        ));
    }
    items
        .iter()
        .map(|item| {
            let Value::Object(m) = item else {
                return Err(Body::wrong_type("attendee[]", "an object"));
            };
            let a = Body(m.clone());
            Ok(Attendee {
                attendee_id: required(a.int("attendeeId")?, "attendee[].attendeeId")?,
                attendee_status: a.text("attendeeStatus")?.unwrap_or_else(|| "A".into()),
                visit_type: a.text("visitType")?,
            })
        })
        .collect()
}

/// `POST /events` (observed body). Answers 200 with the stored event and its new
/// `eventId` (*inferred*: the observed client ignores the answer). `createdById`,
/// `remindAttendee` and `remindOwner` are checked but not stored; attendees must be
/// existing users (*inferred*).
async fn create_event(
    State(sim): State<Arc<ClubOsSim>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let b = Body::from_value(json_body(&headers, &body, uri.path())?)?;
    let event_type_id = required(b.int("eventTypeId")?, "eventTypeId")?;
    let start_raw = required(b.text("startTime")?, "startTime")?;
    let end_raw = required(b.text("endTime")?, "endTime")?;
    let attendee = parse_attendees(&b)?;
    let bad_time = |key: &str| {
        bad_request(
            "INVALID_FIELD",
            &format!("{key} must be an ISO-8601 date-time"),
        )
    };
    let start = parse_instant(&start_raw).ok_or_else(|| bad_time("startTime"))?;
    let end = parse_instant(&end_raw).ok_or_else(|| bad_time("endTime"))?;
    if end <= start {
        return Err(bad_request(
            "INVALID_TIME_RANGE",
            "endTime must be after startTime",
        ));
    }
    let location_id = b.int("locationId")?;
    let owner = b.int("eventOwnerId")?.unwrap_or(CLUBOS_SALESPERSON_ID);
    let subject = b.text("subject")?;
    let booking_source = b.text("bookingSource")?;
    b.int("createdById")?;
    b.boolean("remindAttendee")?;
    b.boolean("remindOwner")?;

    let mut store = sim.store();
    let location = match location_id {
        None => store.locations.first(),
        Some(id) => store.location(id),
    }
    .cloned()
    .ok_or_else(|| {
        bad_request(
            "INVALID_LOCATION",
            "locationId is not a location of this club",
        )
    })?;
    if let Some(a) = attendee
        .iter()
        .find(|a| store.live_user(a.attendee_id).is_none())
    {
        return Err(bad_request(
            "INVALID_ATTENDEE",
            &format!("attendee {} is not a user of this club", a.attendee_id),
        ));
    }
    let event = Event {
        event_id: store.next_event_id(),
        club_id: location.club_id,
        location_id: location.location_id,
        event_type_id,
        event_owner_id: owner,
        start_time: iso_s(start),
        end_time: iso_s(end),
        subject,
        booking_source,
        attendee,
    };
    let rendered = serde_json::to_value(&event).unwrap_or(Value::Null);
    store.events.push(event);
    Ok(Json(rendered).into_response())
}

/// `GET /locations` (observed, with the optional `locationId` filter) in the page envelope.
async fn list_locations(
    State(sim): State<Arc<ClubOsSim>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let params = Params::new(query.as_deref(), uri.path());
    let paging = params.paging("locationId", &["locationId", "name"])?;
    let location: Option<i64> = params.parse("locationId")?;
    let store = sim.store();
    let mut found: Vec<_> = store
        .locations
        .iter()
        .filter(|l| location.is_none_or(|id| l.location_id == id))
        .collect();
    found.sort_by(|a, b| {
        let asc = match paging.sort_on {
            "name" => a.name.cmp(&b.name),
            _ => Ordering::Equal,
        };
        paging.order(asc.then(a.location_id.cmp(&b.location_id)))
    });
    Ok(paging.envelope(found))
}

/// `GET /locations/{id}` (observed path). Unknown ids get a Spring 404 (*inferred*).
async fn get_location(
    State(sim): State<Arc<ClubOsSim>>,
    Path(raw_id): Path<String>,
    uri: Uri,
) -> Reply {
    let id = path_id(&raw_id, "locationId", uri.path())?;
    let store = sim.store();
    let location = store
        .location(id)
        .ok_or_else(|| spring_error(StatusCode::NOT_FOUND, "Location not found", uri.path()))?;
    Ok(Json(location).into_response())
}
