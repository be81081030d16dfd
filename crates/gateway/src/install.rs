//! Installing the GHL Marketplace app (when `ghl.auth` is `oauth`):
//!
//! - `GET /oauth/ghl/install` sends the admin to GHL's consent page, with a random `state`
//!   that it also sets in a short-lived, `HttpOnly`, `SameSite=Lax` cookie;
//! - `GET /oauth/ghl/callback?code=…&state=…` (the app's redirect URI) checks that `state`
//!   equals the cookie (so a code cannot be planted from another site), exchanges the code
//!   at GHL's token endpoint and stores the tokens ([`GhlOAuth::install`]).
//!
//! The callback answers JSON, or a small HTML page to a browser (`Accept: text/html`).
//! A refusal has a stable `code`; no answer carries a token or GHL's own words.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngExt;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::error::ErrorCode;
use crate::upstream::ghl::{
    GhlOAuth,
    oauth::{InstallError, Installed},
};

/// Where an install starts.
pub const INSTALL_PATH: &str = "/oauth/ghl/install";
/// The redirect URI registered with the app.
pub const CALLBACK_PATH: &str = "/oauth/ghl/callback";
/// The cookie holding the `state` of an install in progress.
pub const STATE_COOKIE: &str = "contactgraph_ghl_oauth_state";
/// How long an install may take between the consent page and the callback, in seconds.
const STATE_MAX_AGE_SECS: u32 = 600;

/// The install routes, over the app's token manager.
pub fn router(oauth: Arc<GhlOAuth>) -> Router {
    Router::new()
        .route(INSTALL_PATH, get(install))
        .route(CALLBACK_PATH, get(callback))
        .with_state(oauth)
}

/// Why the callback stored nothing.
#[derive(Debug)]
enum Refusal {
    StateInvalid,
    CodeMissing,
    Install(InstallError),
}

impl From<InstallError> for Refusal {
    fn from(e: InstallError) -> Self {
        Self::Install(e)
    }
}

impl Refusal {
    fn code(&self) -> ErrorCode {
        match self {
            Self::StateInvalid => ErrorCode::OauthStateInvalid,
            Self::CodeMissing => ErrorCode::OauthCodeMissing,
            Self::Install(InstallError::CodeRejected) => ErrorCode::OauthCodeRejected,
            Self::Install(InstallError::WrongLocation) => ErrorCode::OauthWrongLocation,
            Self::Install(InstallError::ClientRejected) => ErrorCode::OauthClientRejected,
            Self::Install(InstallError::Upstream(_)) => ErrorCode::UpstreamUnavailable,
            Self::Install(InstallError::Store(_)) => ErrorCode::StoreUnavailable,
        }
    }

    /// What the answer says: the gateway's own words, without GHL's or the store's detail
    /// (which goes to the log).
    fn message(&self) -> &'static str {
        match self {
            Self::StateInvalid => {
                "the state does not match the install this browser started; start again"
            }
            Self::CodeMissing => "the callback carries no authorization code",
            Self::Install(InstallError::CodeRejected) => {
                "GHL refused the authorization code (unknown, used or expired); install again"
            }
            Self::Install(InstallError::WrongLocation) => {
                "the app was installed in another location than the one this gateway serves"
            }
            Self::Install(InstallError::ClientRejected) => {
                "GHL refused the gateway's app credentials"
            }
            Self::Install(InstallError::Upstream(_)) => "GHL could not be reached; try again",
            Self::Install(InstallError::Store(_)) => "the tokens could not be stored; try again",
        }
    }
}

/// `GET /oauth/ghl/install`: to GHL's consent page, with a fresh `state` in a cookie.
async fn install(State(oauth): State<Arc<GhlOAuth>>) -> Response {
    let state = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>());
    let Ok(location) = oauth.authorize_url(&state) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let secure = oauth.config().redirect_uri.starts_with("https:");
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (
                header::SET_COOKIE,
                state_cookie(&state, STATE_MAX_AGE_SECS, secure),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// What GHL appends to the redirect URI.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// `GET /oauth/ghl/callback`: checks `state`, exchanges the code, stores the tokens.
async fn callback(
    State(oauth): State<Arc<GhlOAuth>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let outcome = async {
        let expected = cookie(&headers, STATE_COOKIE);
        let state_ok = match (query.state.as_deref(), expected) {
            (Some(given), Some(expected)) => {
                bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
            }
            (None, _) => !oauth.config().require_state,
            (Some(_), None) => false,
        };
        if !state_ok {
            return Err(Refusal::StateInvalid);
        }
        let code = query
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(Refusal::CodeMissing)?;
        Ok(oauth.install(code).await?)
    }
    .await;
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let secure = oauth.config().redirect_uri.starts_with("https:");
    let mut response = match outcome {
        Ok(installed) => {
            tracing::info!(location = %installed.location_id, "GHL app installed");
            installed_answer(&installed, html)
        }
        Err(refusal) => {
            tracing::warn!(code = refusal.code().as_str(), detail = ?refusal, "GHL app install refused");
            refusal_answer(&refusal, html)
        }
    };
    if let Ok(clear) = HeaderValue::from_str(&state_cookie("", 0, secure)) {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn installed_answer(installed: &Installed, html: bool) -> Response {
    let expires_at = chrono::DateTime::from_timestamp_millis(installed.expires_at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if html {
        return Html(page(
            "GHL app installed",
            &format!(
                "contactgraph can now reach GHL location {}. You can close this page.",
                escape(&installed.location_id)
            ),
        ))
        .into_response();
    }
    Json(json!({
        "status": "installed",
        "locationId": installed.location_id,
        "scopes": installed.scopes,
        "expiresAt": expires_at,
    }))
    .into_response()
}

fn refusal_answer(refusal: &Refusal, html: bool) -> Response {
    if html {
        let body = page(
            "GHL app not installed",
            &format!("{} ({})", refusal.message(), refusal.code().as_str()),
        );
        return (refusal.code().http_status(), Html(body)).into_response();
    }
    (
        refusal.code().http_status(),
        Json(json!({"code": refusal.code().as_str(), "message": refusal.message()})),
    )
        .into_response()
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

/// HTML-escapes text that came from outside.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The `Set-Cookie` value of the state cookie (an empty value with age 0 clears it).
fn state_cookie(value: &str, max_age_secs: u32, secure: bool) -> String {
    format!(
        "{STATE_COOKIE}={value}; Path=/oauth/ghl; Max-Age={max_age_secs}; HttpOnly; \
         SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of one cookie from the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; contactgraph_ghl_oauth_state=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, STATE_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn the_state_cookie_is_http_only_and_secure_over_https() {
        let set = state_cookie("s", 600, true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(set.ends_with("; Secure"));
        assert!(!state_cookie("s", 600, false).contains("Secure"));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
