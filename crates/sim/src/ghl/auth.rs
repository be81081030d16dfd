//! The gate in front of every API route, in GHL's order: `Version` header, bearer token,
//! the location's rate limits, then the route's scope.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;
use tokio::time::Instant;

use super::{GhlSim, PUBLISHED_VERSIONS};
use crate::admin;

/// Who is calling: the location and scopes of their token. Handlers read it from the
/// request extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub location_id: String,
    pub scopes: Vec<String>,
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"statusCode": 401, "message": message, "error": "Unauthorized"})),
    )
        .into_response()
}

/// The scope a route needs (`ghl-api.md` §2.6).
fn required_scope(route: &str) -> Option<&'static str> {
    let (method, path) = route.split_once(' ')?;
    Some(match (method, path) {
        (_, p) if p.starts_with("/calendars/") => {
            if method == "GET" {
                "calendars/events.readonly"
            } else {
                "calendars/events.write"
            }
        }
        (_, "/locations/{locationId}/tasks/search") => "locations/tasks.readonly",
        (_, "/locations/{locationId}/customFields") => "locations/customFields.readonly",
        ("GET", _) | (_, "/contacts/search") => "contacts.readonly",
        _ => "contacts.write",
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Middleware: rejects what GHL rejects before a handler runs.
pub async fn gate(State(sim): State<Arc<GhlSim>>, mut req: Request, next: Next) -> Response {
    let route = admin::route_key(&req);
    if route == "POST /oauth/token" {
        return next.run(req).await;
    }
    match req.headers().get("version").map(|v| v.to_str()) {
        None => return unauthorized("version header was not found."),
        Some(Ok(v)) if PUBLISHED_VERSIONS.contains(&v) => {}
        Some(_) => return unauthorized("version header is invalid"),
    }
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return unauthorized("Invalid JWT");
    };
    let now = Instant::now();
    let info = sim.store().tokens.get(&token).cloned();
    let info = match info {
        Some(i) if i.expires_at.is_none_or(|t| t > now) => i,
        _ if token.starts_with("pit-") => return unauthorized("Invalid Private Integration token"),
        _ => return unauthorized("Invalid JWT"),
    };
    let verdict = sim
        .limits
        .hit(&info.location_id, sim.config().rate_limit, now);
    let mut response = if !verdict.allowed {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"statusCode": 429, "message": "Too Many Requests"})),
        )
            .into_response()
    } else if required_scope(&route).is_some_and(|s| !info.scopes.iter().any(|h| h == s)) {
        unauthorized("The token is not authorized for this scope.")
    } else {
        req.extensions_mut().insert(Caller {
            location_id: info.location_id,
            scopes: info.scopes,
        });
        next.run(req).await
    };
    verdict.apply(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::required_scope;

    #[test]
    fn scopes_follow_the_scope_table() {
        assert_eq!(
            required_scope("GET /contacts/{contactId}"),
            Some("contacts.readonly")
        );
        assert_eq!(
            required_scope("POST /contacts/search"),
            Some("contacts.readonly")
        );
        assert_eq!(
            required_scope("PUT /contacts/{contactId}"),
            Some("contacts.write")
        );
        assert_eq!(
            required_scope("DELETE /calendars/events/{eventId}"),
            Some("calendars/events.write")
        );
        assert_eq!(
            required_scope("POST /locations/{locationId}/tasks/search"),
            Some("locations/tasks.readonly")
        );
    }
}
