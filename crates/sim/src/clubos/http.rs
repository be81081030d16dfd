//! Request and response plumbing shared by the v3 handlers: Spring-style error bodies,
//! query parsing, paging and timestamps.

use std::{cmp::Ordering, str::FromStr};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::MAX_PAGE_SIZE;

/// A handler's early exit: an already rendered error response, boxed so that the
/// `Result`s threading it stay small.
pub(super) struct Reject(Box<Response>);

impl Reject {
    pub(super) fn new(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// What handlers and their helpers return.
pub(super) type Reply<T = Response> = Result<T, Reject>;

/// Now, as Club OS writes creation timestamps (ISO-8601 UTC, 6 fraction digits; observed).
pub(super) fn now_iso() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Spring Boot's default error body with a numeric `status`. *Inferred* for every status
/// but 400: Club OS's 401/404 bodies were never observed.
pub(super) fn spring_error(status: StatusCode, message: &str, path: &str) -> Reject {
    let body = json!({
        "timestamp": now_iso(),
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
        "path": path,
    });
    Reject::new((status, Json(body)).into_response())
}

/// The observed validation 400: `status` is the enum *name* and the detail sits in
/// `messages {code, message}`.
pub(super) fn bad_request(code: &str, message: &str) -> Reject {
    let body = json!({
        "timestamp": now_iso(),
        "status": "BAD_REQUEST",
        "error": "Bad Request",
        "messages": { "code": code, "message": message },
    });
    Reject::new((StatusCode::BAD_REQUEST, Json(body)).into_response())
}

/// Parses an ISO-8601 instant as clients send it: with an offset, without one (UTC), or
/// a bare date (midnight UTC). A `+` that arrived unencoded in a query is a space.
pub(super) fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim().replace(' ', "+");
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A request's query pairs. Unknown parameters are kept but never looked at, so they are
/// ignored as Spring ignores them; empty values count as absent (*inferred*).
pub(super) struct Params {
    pairs: Vec<(String, String)>,
    path: String,
}

impl Params {
    pub(super) fn new(raw: Option<&str>, path: &str) -> Self {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .filter(|(_, v)| !v.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Self {
            pairs,
            path: path.to_owned(),
        }
    }

    /// The first value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// Every value of a repeatable parameter.
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// A typed parameter; a value that does not parse is a 400, as Spring's conversion
    /// failure is.
    pub(super) fn parse<T: FromStr>(&self, name: &str) -> Reply<Option<T>> {
        self.get(name).map(|v| self.convert(name, v)).transpose()
    }

    /// Every value of a repeatable typed parameter.
    pub(super) fn parse_all<T: FromStr>(&self, name: &str) -> Reply<Vec<T>> {
        self.all(name).map(|v| self.convert(name, v)).collect()
    }

    fn convert<T: FromStr>(&self, name: &str, v: &str) -> Reply<T> {
        v.parse().map_err(|_| {
            spring_error(
                StatusCode::BAD_REQUEST,
                &format!("Failed to convert value of parameter '{name}'"),
                &self.path,
            )
        })
    }

    /// An ISO-8601 instant parameter.
    pub(super) fn instant(&self, name: &str) -> Reply<Option<DateTime<Utc>>> {
        self.get(name)
            .map(|v| {
                parse_instant(v).ok_or_else(|| {
                    spring_error(
                        StatusCode::BAD_REQUEST,
                        &format!("Parameter '{name}' must be an ISO-8601 date-time"),
                        &self.path,
                    )
                })
            })
            .transpose()
    }

    /// `page`, `size`, `sortOn`, `sortDir` (documented), checked against the sort fields
    /// a resource allows.
    pub(super) fn paging(&self, default_sort: &str, sortable: &[&'static str]) -> Reply<Paging> {
        let page: usize = self.parse("page")?.unwrap_or(0);
        let size: usize = self.parse("size")?.unwrap_or(20);
        if size == 0 {
            return Err(spring_error(
                StatusCode::BAD_REQUEST,
                "Page size must not be less than one",
                &self.path,
            ));
        }
        if size > MAX_PAGE_SIZE {
            // *Inferred*: the docs give the cap but not what exceeding it does.
            return Err(spring_error(
                StatusCode::BAD_REQUEST,
                &format!("size must be less than or equal to {MAX_PAGE_SIZE}"),
                &self.path,
            ));
        }
        let sort_on = self.get("sortOn").unwrap_or(default_sort);
        let Some(&sort_on) = sortable.iter().find(|s| s.eq_ignore_ascii_case(sort_on)) else {
            return Err(spring_error(
                StatusCode::BAD_REQUEST,
                &format!("No property '{sort_on}' found to sort on"),
                &self.path,
            ));
        };
        let desc = match self.get("sortDir") {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("ASC") => false,
            Some(d) if d.eq_ignore_ascii_case("DESC") => true,
            Some(d) => {
                return Err(spring_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid sortDir '{d}': use ASC or DESC"),
                    &self.path,
                ));
            }
        };
        Ok(Paging {
            page,
            size,
            sort_on,
            desc,
        })
    }
}

/// A validated page request.
pub(super) struct Paging {
    pub(super) page: usize,
    pub(super) size: usize,
    pub(super) sort_on: &'static str,
    pub(super) desc: bool,
}

impl Paging {
    /// Applies the direction to an ascending comparison.
    pub(super) fn order(&self, asc: Ordering) -> Ordering {
        if self.desc { asc.reverse() } else { asc }
    }

    /// Cuts the sorted matches to the requested page and wraps them in Spring's `Page`
    /// envelope. `content`/`totalPages` are observed; the rest are Spring's standard
    /// fields (*inferred*).
    pub(super) fn envelope<T: Serialize>(&self, all: Vec<T>) -> Response {
        let total = all.len();
        let total_pages = total.div_ceil(self.size);
        let content: Vec<T> = all
            .into_iter()
            .skip(self.page.saturating_mul(self.size))
            .take(self.size)
            .collect();
        // Spring's `empty` is "this page has no content", so a page past the end is empty.
        let empty = content.is_empty();
        let body = json!({
            "numberOfElements": content.len(),
            "content": content,
            "totalPages": total_pages,
            "totalElements": total,
            "number": self.page,
            "size": self.size,
            "first": self.page == 0,
            "last": self.page + 1 >= total_pages,
            "empty": empty,
        });
        Json(body).into_response()
    }
}

/// Compares two optional ISO timestamps as instants; absent (or unreadable) sorts first.
pub(super) fn cmp_instants(a: Option<&str>, b: Option<&str>) -> Ordering {
    a.and_then(parse_instant).cmp(&b.and_then(parse_instant))
}

/// Checks a JSON body's content type, as Spring does before reading it (*inferred* 415:
/// the observed client always sends `application/json`).
pub(super) fn json_body(headers: &axum::http::HeaderMap, body: &[u8], path: &str) -> Reply<Value> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(spring_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
            path,
        ));
    }
    serde_json::from_slice(body).map_err(|_| bad_request("JSON_PARSE_ERROR", "JSON parse error"))
}
