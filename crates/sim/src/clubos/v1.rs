//! The v1 routes (`api.club-os.com` shape) behind HTTP Basic auth: `GET /emailmatch`,
//! the only documented way to find a Club OS user by email.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{RawQuery, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{ClubOsSim, ClubOsSimConfig, http::Params, model::Role, store::email_matches};

pub(super) fn routes(sim: Arc<ClubOsSim>) -> Router {
    Router::new()
        .route("/emailmatch", get(email_match))
        .with_state(sim)
}

/// The documented generic failure object, `{status: false, responses: [{message, value}]}`.
fn failure(message: &str, value: &str) -> Value {
    json!({ "status": false, "responses": [ { "message": message, "value": value } ] })
}

fn basic_credentials_ok(headers: &HeaderMap, cfg: &ClubOsSimConfig) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    text.split_once(':')
        .is_some_and(|(u, p)| u == cfg.v1_username && p == cfg.v1_password)
}

/// Requires the configured v1 Basic credentials (documented). The 401 status and its
/// body, the generic envelope with "Invalid credentials", are *inferred*: v1 documents
/// no status codes.
pub(super) async fn require_basic_auth(
    State(sim): State<Arc<ClubOsSim>>,
    req: Request,
    next: Next,
) -> Response {
    if basic_credentials_ok(req.headers(), &sim.cfg) {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"Club OS API\"")],
        Json(failure("Invalid credentials", "")),
    )
        .into_response()
}

/// `GET /emailmatch?clubLocationId=&email=` (documented): every user with that email
/// (case-insensitive) anywhere in the club, as a list of UserResponse. The failures
/// (unknown location, no match, missing parameter) answer HTTP 200 with the generic
/// envelope: *inferred*, since the docs give the envelope but no status codes.
async fn email_match(State(sim): State<Arc<ClubOsSim>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::new(query.as_deref(), "/emailmatch");
    let Some(location) = params.get("clubLocationId") else {
        return Json(failure("Missing required parameter", "clubLocationId")).into_response();
    };
    let store = sim.store();
    let known = location
        .parse::<i64>()
        .ok()
        .and_then(|id| store.location(id))
        .is_some();
    if !known {
        return Json(failure("Access denied to location", location)).into_response();
    }
    let Some(email) = params.get("email") else {
        return Json(failure("Missing required parameter", "email")).into_response();
    };
    let found: Vec<Value> = store
        .live_users()
        .filter(|u| email_matches(u, email))
        .map(|u| {
            let role = if u.role == Role::member() || u.role == Role::prospect() {
                "Client"
            } else {
                u.role.name.as_str()
            };
            json!({
                "id": u.user_id,
                "firstName": u.first_name,
                "lastName": u.last_name,
                "email": u.email,
                "role": role,
                "hasWorkouts": false,
                "hasNutrition": false,
                "workoutGrade": 0,
                "nutritionGrade": 0,
                "workoutGoal": 0,
            })
        })
        .collect();
    if found.is_empty() {
        return Json(failure("User not found", email)).into_response();
    }
    Json(found).into_response()
}
