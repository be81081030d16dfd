//! `POST /oauth/token`: the authorization-code exchange and the refresh grant, with
//! single-use codes and refresh tokens that rotate on every use.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Form, Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;
use tokio::time::Instant;

use super::{
    GhlSim,
    store::{ALL_SCOPES, RefreshGrant, TokenInfo},
};
use crate::seed::{GHL_LOCATION_ID, GHL_USER_IDS};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `POST /_sim/oauth/code`: a fresh single-use authorization code for the seeded location,
/// standing in for the browser's trip through the Marketplace consent page.
pub async fn mint_code(State(sim): State<Arc<GhlSim>>) -> Json<serde_json::Value> {
    let mut store = sim.store();
    let code = format!("code-{}", store.new_id());
    store.codes.insert(code.clone());
    Json(json!({"code": code, "locationId": GHL_LOCATION_ID}))
}

/// `POST /_sim/oauth/revoke`: forgets every OAuth access token issued so far (refresh
/// tokens stay valid), as if GHL had revoked them early; the next call with one gets 401.
pub async fn revoke(State(sim): State<Arc<GhlSim>>) -> Json<serde_json::Value> {
    let mut store = sim.store();
    let before = store.tokens.len();
    store.tokens.retain(|_, info| info.expires_at.is_none());
    Json(json!({"revoked": before - store.tokens.len()}))
}

/// `POST /oauth/token` (form-encoded).
pub async fn token(
    State(sim): State<Arc<GhlSim>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    const ALLOWED: [&str; 7] = [
        "client_id",
        "client_secret",
        "grant_type",
        "code",
        "refresh_token",
        "user_type",
        "redirect_uri",
    ];
    let unknown: Vec<String> = form
        .keys()
        .filter(|k| !ALLOWED.contains(&k.as_str()))
        .map(|k| format!("property {k} should not exist"))
        .collect();
    if !unknown.is_empty() {
        return super::reply::Reject::Unprocessable(unknown).into_response();
    }
    let cfg = sim.config();
    if form.get("client_id") != Some(&cfg.client_id)
        || form.get("client_secret") != Some(&cfg.client_secret)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let mut store = sim.store();
    let grant = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            if !store.codes.remove(&code) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid grant: authorization code is invalid",
                );
            }
            RefreshGrant {
                location_id: GHL_LOCATION_ID.into(),
            }
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            match store.refresh_tokens.remove(&presented) {
                Some(g) => g,
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid grant: refresh token is invalid",
                    );
                }
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            );
        }
    };
    let access = format!("sim-at-{}{}", store.new_id(), store.new_id());
    let refresh = format!("sim-rt-{}{}", store.new_id(), store.new_id());
    store.tokens.insert(
        access.clone(),
        TokenInfo {
            location_id: grant.location_id.clone(),
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            expires_at: Some(Instant::now() + Duration::from_secs(cfg.access_token_ttl_secs)),
        },
    );
    store.refresh_tokens.insert(refresh.clone(), grant.clone());
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": cfg.access_token_ttl_secs,
        "refresh_token": refresh,
        "scope": ALL_SCOPES.join(" "),
        "userType": "Location",
        "locationId": grant.location_id,
        "companyId": "cOmPaNySiMuLaToR0001",
        "approvedLocations": [grant.location_id],
        "userId": GHL_USER_IDS[0],
        "planId": "sim-plan",
        "isBulkInstallation": false,
    }))
    .into_response()
}
