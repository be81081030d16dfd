//! The HTTP side of the Club OS client: one shared `reqwest::Client`, the
//! status-to-error mapping and the typed calls.
//!
//! Reads go through the shared [`RetryPolicy`]; writes are sent exactly once, because a
//! write that timed out may have been applied and only the outbox relay may decide to
//! repeat it. Nothing logged or put in an error carries the API key, the v1 password or
//! a URL with its query string (which holds emails and phones).

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER},
};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

pub use super::config::ClubOsConfig;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::models::{
    ClubOsEvent, ClubOsLocation, ClubOsUser, EmailMatch, EventSearch, NewEvent, NewUser, Page,
    UserPatch, UserSearch,
};
use crate::upstream::{RetryPolicy, UpstreamError};

/// The Club OS client. Cheap to clone: clones share the connection pool, the concurrency
/// limit and the retry budget.
#[derive(Clone)]
pub struct ClubOsClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    v1_base_url: String,
    /// Marked sensitive so that reqwest and `http` never print it.
    api_key: HeaderValue,
    /// `Basic …`, marked sensitive; `None` without v1 credentials.
    v1_auth: Option<HeaderValue>,
    club_id: i64,
    location_id: i64,
    email_param: String,
    phone_param: String,
    updated_since_param: String,
    retry: RetryPolicy,
    in_flight: Semaphore,
    max_concurrency: usize,
}

impl std::fmt::Debug for ClubOsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("ClubOsClient")
            .field("base_url", &i.base_url)
            .field("v1_base_url", &i.v1_base_url)
            .field("club_id", &i.club_id)
            .field("location_id", &i.location_id)
            .field("v1_enabled", &i.v1_auth.is_some())
            .field("max_concurrency", &i.max_concurrency)
            .finish_non_exhaustive()
    }
}

fn config_error(message: &str) -> UpstreamError {
    UpstreamError::Invalid {
        messages: vec![format!("Club OS configuration: {message}")],
    }
}

/// A base URL without its trailing slash, checked to be http(s) so a typo fails at start.
fn base(raw: &str, name: &str) -> Result<String, UpstreamError> {
    let url =
        url::Url::parse(raw).map_err(|_| config_error(&format!("{name} is not a valid URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(config_error(&format!("{name} must be http or https")));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn sensitive(value: &str, name: &str) -> Result<HeaderValue, UpstreamError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| config_error(&format!("{name} is not a valid header value")))?;
    v.set_sensitive(true);
    Ok(v)
}

/// A status, its `Retry-After` and the body, read in full while the permit is held.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl ClubOsClient {
    /// The Club OS location this client works for.
    pub fn location_id(&self) -> i64 {
        self.inner.location_id
    }

    /// Builds the client and its single connection pool. Fails on a malformed base URL or
    /// a key that cannot be sent as a header, so bad configuration stops the start-up.
    pub fn new(cfg: ClubOsConfig, retry: RetryPolicy) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            // A redirect would carry `x-api-key` to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("contactgraph/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(UpstreamError::from_reqwest)?;
        let v1_auth = match (&cfg.v1_username, &cfg.v1_password) {
            (Some(user), Some(pass)) => {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", pass.expose_secret()));
                Some(sensitive(&format!("Basic {token}"), "v1 credentials")?)
            }
            _ => None,
        };
        let max_concurrency = cfg.max_concurrency.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: base(&cfg.base_url, "base_url")?,
                v1_base_url: base(&cfg.v1_base_url, "v1_base_url")?,
                api_key: sensitive(cfg.api_key.expose_secret(), "api_key")?,
                v1_auth,
                club_id: cfg.club_id,
                location_id: cfg.location_id,
                email_param: cfg.email_param,
                phone_param: cfg.phone_param,
                updated_since_param: cfg.updated_since_param,
                retry,
                in_flight: Semaphore::new(max_concurrency),
                max_concurrency,
            }),
        })
    }

    fn v3(&self, method: Method, path: &str) -> RequestBuilder {
        let i = &self.inner;
        i.http
            .request(method, format!("{}{path}", i.base_url))
            .header("x-api-key", i.api_key.clone())
            .header(ACCEPT, "application/json")
    }

    /// Sends one request under the concurrency limit and reads the whole answer.
    /// `route` is the template logged instead of the URL.
    async fn send(
        &self,
        route: &'static str,
        req: RequestBuilder,
    ) -> Result<Answer, UpstreamError> {
        let _permit = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| UpstreamError::Transport("client is shutting down".into()))?;
        let resp = req.send().await.map_err(|e| {
            let err = UpstreamError::from_reqwest(e);
            tracing::debug!(route, error = %err, "Club OS call failed");
            err
        })?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| match UpstreamError::from_reqwest(e) {
                // Only after a 2xx is a broken body an unreadable answer.
                UpstreamError::Decode(m) if !status.is_success() => UpstreamError::Transport(m),
                other => other,
            })?
            .to_vec();
        tracing::debug!(route, status = status.as_u16(), "Club OS answered");
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// A v3 read: retried while transient, decoded on 2xx.
    async fn read<T: DeserializeOwned>(
        &self,
        route: &'static str,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<T, UpstreamError> {
        self.inner
            .retry
            .run(|| async move {
                let answer = self
                    .send(route, self.v3(Method::GET, path).query(query))
                    .await?;
                if answer.status.is_success() {
                    decode(&answer.body, what)
                } else {
                    Err(error_for(&answer))
                }
            })
            .await
    }

    /// A v3 write: sent once, decoded on 2xx.
    async fn write<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        route: &'static str,
        method: Method,
        path: &str,
        body: &B,
        what: &str,
    ) -> Result<T, UpstreamError> {
        let answer = self.send(route, self.v3(method, path).json(body)).await?;
        if answer.status.is_success() {
            decode(&answer.body, what)
        } else {
            Err(error_for(&answer))
        }
    }

    /// Reads one user with the full profile. `Ok(None)` when Club OS has no such user
    /// (or it was soft-deleted), which callers treat as a broken link, not a failure.
    pub async fn get_user(&self, user_id: i64) -> Result<Option<ClubOsUser>, UpstreamError> {
        let path = format!("/users/{user_id}");
        let path = path.as_str();
        self.inner
            .retry
            .run(|| async move {
                let answer = self
                    .send("GET /users/{userId}", self.v3(Method::GET, path))
                    .await?;
                match answer.status {
                    s if s.is_success() => decode(&answer.body, "user").map(Some),
                    StatusCode::NOT_FOUND => Ok(None),
                    _ => Err(error_for(&answer)),
                }
            })
            .await
    }

    /// Searches users by email, phone, location or update time, one page at a time.
    /// *Inferred* endpoint: the filter parameter names come from the configuration.
    pub async fn search_users(&self, q: &UserSearch) -> Result<Page<ClubOsUser>, UpstreamError> {
        let i = &self.inner;
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(v) = &q.email {
            query.push((&i.email_param, v.clone()));
        }
        if let Some(v) = &q.phone {
            query.push((&i.phone_param, v.clone()));
        }
        if let Some(v) = &q.updated_since {
            query.push((&i.updated_since_param, v.clone()));
        }
        if let Some(v) = q.location_id {
            query.push(("locationId", v.to_string()));
        }
        push_paging(&mut query, q.page, q.size, q.sort_on.as_deref(), q.sort_dir);
        self.read("GET /users", "/users", &query, "user page").await
    }

    /// Creates a user (a prospect unless `role` says otherwise). Sent once, never
    /// retried. A person Club OS already has comes back as
    /// [`UpstreamError::Duplicate`] naming the existing user id, so callers can link
    /// instead of creating.
    pub async fn create_user(&self, new: &NewUser) -> Result<ClubOsUser, UpstreamError> {
        let mut body = new.clone();
        body.club_id.get_or_insert(self.inner.club_id);
        body.location_id.get_or_insert(self.inner.location_id);
        self.write("POST /users", Method::POST, "/users", &body, "user")
            .await
    }

    /// Changes the given contact fields of a user and returns the result. Sent once,
    /// never retried. *Inferred* endpoint (`PUT /users/{userId}`).
    pub async fn update_user(
        &self,
        user_id: i64,
        patch: &UserPatch,
    ) -> Result<ClubOsUser, UpstreamError> {
        let path = format!("/users/{user_id}");
        self.write("PUT /users/{userId}", Method::PUT, &path, patch, "user")
            .await
    }

    /// Searches events (a member's appointments and classes), one page at a time.
    /// *Inferred* endpoint.
    pub async fn search_events(&self, q: &EventSearch) -> Result<Page<ClubOsEvent>, UpstreamError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(v) = q.user_id {
            query.push(("userId", v.to_string()));
        }
        if let Some(v) = q.location_id {
            query.push(("locationId", v.to_string()));
        }
        if let Some(v) = &q.start_time_start {
            query.push(("startTimeStart", v.clone()));
        }
        if let Some(v) = &q.start_time_end {
            query.push(("startTimeEnd", v.clone()));
        }
        for t in &q.event_type_ids {
            query.push(("eventTypeId", t.to_string()));
        }
        push_paging(&mut query, q.page, q.size, q.sort_on.as_deref(), q.sort_dir);
        self.read("GET /events", "/events", &query, "event page")
            .await
    }

    /// Books an event (e.g. a tour). Sent once, never retried.
    pub async fn create_event(&self, new: &NewEvent) -> Result<ClubOsEvent, UpstreamError> {
        let mut body = new.clone();
        body.club_id.get_or_insert(self.inner.club_id);
        body.location_id.get_or_insert(self.inner.location_id);
        self.write("POST /events", Method::POST, "/events", &body, "event")
            .await
    }

    /// The club's locations (ids, names, time zones) in one page of up to 1000.
    pub async fn list_locations(&self) -> Result<Page<ClubOsLocation>, UpstreamError> {
        let query = [("size", "1000".to_owned())];
        self.read("GET /locations", "/locations", &query, "location page")
            .await
    }

    /// Finds users by email through v1 `/emailmatch` (documented; one email can match
    /// several users, e.g. a family). No match is an empty list, not an error.
    pub async fn email_match(&self, email: &str) -> Result<Vec<EmailMatch>, UpstreamError> {
        let i = &self.inner;
        let auth = i
            .v1_auth
            .as_ref()
            .ok_or_else(|| UpstreamError::Unauthorized {
                message: "Club OS v1 credentials are not configured".into(),
            })?;
        let url = format!("{}/emailmatch", i.v1_base_url);
        let query = [
            ("clubLocationId", i.location_id.to_string()),
            ("email", email.to_owned()),
        ];
        let (url, query) = (url.as_str(), &query);
        i.retry
            .run(|| async move {
                let req = i
                    .http
                    .get(url)
                    .query(query)
                    .header(AUTHORIZATION, auth.clone())
                    .header(ACCEPT, "application/json")
                    // v1 requests "will not succeed" without it (documented).
                    .header(CONTENT_TYPE, "application/json");
                let answer = self.send("GET /emailmatch", req).await?;
                if !answer.status.is_success() {
                    return Err(error_for(&answer));
                }
                email_match_answer(&answer.body)
            })
            .await
    }
}

/// v1 answers a list on success and the generic `{status: false, responses}` object on
/// failure; "User not found" is the empty result.
fn email_match_answer(body: &[u8]) -> Result<Vec<EmailMatch>, UpstreamError> {
    let value: Value = decode(body, "emailmatch answer")?;
    match value {
        Value::Array(_) => decode(body, "emailmatch answer"),
        Value::Object(ref m) if m.get("status") == Some(&Value::Bool(false)) => {
            let messages = upstream_messages(Some(&value));
            if messages
                .iter()
                .any(|m| m.eq_ignore_ascii_case("user not found"))
            {
                Ok(Vec::new())
            } else if messages.is_empty() {
                Err(UpstreamError::Invalid {
                    messages: vec!["emailmatch failed".into()],
                })
            } else {
                Err(UpstreamError::Invalid { messages })
            }
        }
        _ => Err(UpstreamError::Decode(
            "unexpected emailmatch answer: neither a list nor a failure".into(),
        )),
    }
}

fn push_paging(
    query: &mut Vec<(&str, String)>,
    page: u32,
    size: u32,
    sort_on: Option<&str>,
    sort_dir: Option<super::models::SortDir>,
) {
    query.push(("page", page.to_string()));
    if size > 0 {
        query.push(("size", size.to_string()));
    }
    if let Some(s) = sort_on {
        query.push(("sortOn", s.to_owned()));
    }
    if let Some(d) = sort_dir {
        query.push(("sortDir", d.as_str().to_owned()));
    }
}

/// `Retry-After` in seconds (the only form Club OS is assumed to send).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Decodes a body, reporting where it broke but never the body itself (it holds
/// personal data).
fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, UpstreamError> {
    serde_json::from_slice(body).map_err(|e| {
        UpstreamError::Decode(format!(
            "unexpected {what}: {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Upstream messages are cut to this many characters: enough to explain, too short to
/// relay a stack trace.
const MAX_MESSAGE_CHARS: usize = 200;

fn short(s: &str) -> String {
    s.trim().chars().take(MAX_MESSAGE_CHARS).collect()
}

/// The human-readable messages of an error body, whichever of the known shapes it has:
/// Club OS's `messages {code, message}`, Spring's `message` and `errors[]`, or v1's
/// `responses[].message`.
fn upstream_messages(body: Option<&Value>) -> Vec<String> {
    let Some(body) = body else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let code_and_message = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(short(s)),
            Value::Object(m) => {
                let text = |k: &str| m.get(k).and_then(Value::as_str).map(short);
                let code = text("code");
                let message = text("message").or_else(|| text("defaultMessage"));
                match (code, message) {
                    (Some(code), Some(message)) => Some(format!("{code}: {message}")),
                    (code, message) => code.or(message),
                }
            }
            _ => None,
        }
    };
    for key in ["messages", "errors", "responses"] {
        match body.get(key) {
            Some(Value::Array(items)) => {
                // v1 `responses` carry a `value` (an id or the email looked up): left out.
                out.extend(items.iter().filter_map(|item| match (key, item) {
                    ("responses", Value::Object(m)) => {
                        m.get("message").and_then(Value::as_str).map(short)
                    }
                    _ => code_and_message(item),
                }));
            }
            Some(v) => out.extend(code_and_message(v)),
            None => {}
        }
    }
    if out.is_empty()
        && let Some(m) = body.get("message").and_then(Value::as_str)
    {
        out.push(short(m));
    }
    out.retain(|m| !m.is_empty());
    out
}

/// Maps a non-2xx answer to the error callers branch on.
fn error_for(answer: &Answer) -> UpstreamError {
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let messages = upstream_messages(body.as_ref());
    let first = |fallback: &str| {
        messages
            .first()
            .cloned()
            .unwrap_or_else(|| fallback.to_owned())
    };
    match answer.status {
        StatusCode::BAD_REQUEST => {
            let duplicate = body
                .as_ref()
                .and_then(|b| b.get("code"))
                .and_then(Value::as_str)
                == Some("DUPLICATE_USER");
            if duplicate {
                let existing_id = body.as_ref().and_then(|b| match b.get("user") {
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                });
                return UpstreamError::Duplicate {
                    existing_id,
                    matching_field: None,
                };
            }
            UpstreamError::Invalid {
                messages: if messages.is_empty() {
                    vec!["bad request".into()]
                } else {
                    messages
                },
            }
        }
        StatusCode::UNAUTHORIZED => UpstreamError::Unauthorized {
            message: first("unauthorized"),
        },
        StatusCode::FORBIDDEN => UpstreamError::Forbidden {
            message: first("forbidden"),
        },
        StatusCode::NOT_FOUND => UpstreamError::NotFound {
            message: first("not found"),
        },
        StatusCode::TOO_MANY_REQUESTS => UpstreamError::RateLimited {
            retry_after: answer.retry_after,
            daily_exhausted: false,
        },
        // Other refusals (405, 409, 415, 422, …) will not succeed if repeated.
        s if s.is_client_error() => UpstreamError::Invalid {
            messages: vec![format!("HTTP {}: {}", s.as_u16(), first("request refused"))],
        },
        s => UpstreamError::Unavailable { status: s.as_u16() },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn duplicate_user_names_the_existing_id() {
        let err = error_for(&answer(
            400,
            json!({"status": 400, "code": "DUPLICATE_USER", "user": 170000009}),
        ));
        assert_eq!(
            err,
            UpstreamError::Duplicate {
                existing_id: Some("170000009".into()),
                matching_field: None
            }
        );
    }

    #[test]
    fn spring_validation_body_keeps_code_and_message() {
        let err = error_for(&answer(
            400,
            json!({"status": "BAD_REQUEST", "error": "Bad Request",
                   "messages": {"code": "DATA TOO LONG FOR COLUMN 'FIRST_NAME'",
                                "message": "could not execute statement"}}),
        ));
        assert_eq!(
            err,
            UpstreamError::Invalid {
                messages: vec![
                    "DATA TOO LONG FOR COLUMN 'FIRST_NAME': could not execute statement".into()
                ]
            }
        );
    }

    #[test]
    fn server_errors_are_unavailable_and_other_refusals_invalid() {
        assert_eq!(
            error_for(&answer(503, json!({}))),
            UpstreamError::Unavailable { status: 503 }
        );
        assert!(matches!(
            error_for(&answer(422, json!({"message": "nope"}))),
            UpstreamError::Invalid { .. }
        ));
    }

    #[test]
    fn v1_user_not_found_is_an_empty_list_and_leaves_out_the_email() {
        let body = json!({"status": false, "responses": [{"message": "User not found", "value": "a@b.c"}]});
        assert_eq!(
            email_match_answer(body.to_string().as_bytes()),
            Ok(Vec::new())
        );
        let denied = json!({"status": false, "responses": [{"message": "Access denied to location", "value": "9"}]});
        assert_eq!(
            email_match_answer(denied.to_string().as_bytes()),
            Err(UpstreamError::Invalid {
                messages: vec!["Access denied to location".into()]
            })
        );
    }

    #[test]
    fn decode_errors_do_not_echo_the_body() {
        let err = decode::<ClubOsUser>(br#"{"userId": "pat@example.test"}"#, "user").unwrap_err();
        assert!(!err.to_string().contains("pat@"), "{err}");
    }

    #[test]
    fn config_fills_defaults_and_refuses_unknown_keys() {
        let cfg: ClubOsConfig =
            serde_json::from_value(json!({"api_key": "k", "club_id": 600, "location_id": 4500}))
                .unwrap();
        assert_eq!(cfg.base_url, "https://api.club-os.io");
        assert_eq!(cfg.v1_base_url, "https://api.club-os.com");
        assert_eq!((cfg.timeout_ms, cfg.connect_timeout_ms), (10_000, 3_000));
        assert_eq!(cfg.max_concurrency, 16);
        assert_eq!(
            (cfg.email_param.as_str(), cfg.phone_param.as_str()),
            ("email", "phone")
        );
        assert_eq!(cfg.updated_since_param, "updatedSince");
        assert!(
            serde_json::from_value::<ClubOsConfig>(
                json!({"api_key": "k", "club_id": 600, "location_id": 4500, "apikey": "x"})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<ClubOsConfig>(json!({"club_id": 600})).is_err());
    }

    #[test]
    fn a_bad_base_url_fails_at_construction() {
        let cfg = ClubOsConfig {
            base_url: "not a url".into(),
            ..ClubOsConfig::new("k".into(), 600, 4500)
        };
        assert!(matches!(
            ClubOsClient::new(cfg, RetryPolicy::new(Default::default())),
            Err(UpstreamError::Invalid { .. })
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let cfg = ClubOsConfig::new("super-secret-key".into(), 600, 4500);
        let client = ClubOsClient::new(cfg.clone(), RetryPolicy::new(Default::default()))
            .expect("client builds");
        assert!(!format!("{client:?}").contains("super-secret-key"));
        assert!(!format!("{cfg:?}").contains("super-secret-key"));
    }
}
