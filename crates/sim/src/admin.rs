//! The admin surface both simulators share: request counters (`GET /_sim/stats`) and a
//! fault plan (`POST /_sim/faults`) applied by a middleware in front of every API route.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json,
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Counts of requests received, by `METHOD /route/{template}`, and of 429s sent.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<StatsSnapshot>,
}

/// What `GET /_sim/stats` answers.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Every API request received (admin routes excluded).
    pub total: u64,
    /// Responses with status 429.
    pub rate_limited: u64,
    /// Per route template, e.g. `GET /contacts/{contactId}/notes`.
    pub routes: BTreeMap<String, RouteStats>,
}

/// Requests of one route and the statuses answered.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteStats {
    /// Requests received.
    pub count: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
}

impl StatsSnapshot {
    /// Requests received on one route template (0 when never called).
    pub fn count(&self, route: &str) -> u64 {
        self.routes.get(route).map_or(0, |r| r.count)
    }

    /// Responses with `status` across all routes.
    pub fn status_count(&self, status: u16) -> u64 {
        self.routes
            .values()
            .filter_map(|r| r.statuses.get(&status))
            .sum()
    }
}

impl Stats {
    fn record(&self, route: &str, status: StatusCode) {
        let mut s = self.inner.lock().expect("stats lock");
        s.total += 1;
        if status == StatusCode::TOO_MANY_REQUESTS {
            s.rate_limited += 1;
        }
        let r = s.routes.entry(route.to_owned()).or_default();
        r.count += 1;
        *r.statuses.entry(status.as_u16()).or_default() += 1;
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.inner.lock().expect("stats lock").clone()
    }

    fn reset(&self) {
        *self.inner.lock().expect("stats lock") = StatsSnapshot::default();
    }
}

/// A fault plan, as posted to `POST /_sim/faults`. Posting replaces the previous plan.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Latency added to every API request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Every API route answers 503 while true.
    #[serde(default)]
    pub outage: bool,
    /// Rules tried in order; the first that matches a request applies.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// One fault: which requests it hits and what happens to them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `METHOD /template` as in the stats (e.g. `PUT /users/{userId}`); absent = every route.
    #[serde(default)]
    pub route: Option<String>,
    /// What to do.
    #[serde(default)]
    pub action: FaultAction,
    /// Status for [`FaultAction::Error`] (default 500).
    #[serde(default)]
    pub status: Option<u16>,
    /// Extra latency for matching requests, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// A `Retry-After` header (seconds) on the fault's answer, as GHL sends with a 429.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Hit only the next N matching requests, then let them through ("fail N times then
    /// succeed"). Absent = every matching request.
    #[serde(default)]
    pub times: Option<u32>,
}

/// What a fault does to a request it hits.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with `status` and the API's error body.
    #[default]
    Error,
    /// Never answer (the client's timeout fires).
    Hang,
    /// Send the headers, then break the connection mid-body.
    Drop,
    /// Answer 200 with a body that is not valid JSON.
    Malformed,
    /// Only the rule's latency; the request then proceeds.
    Delay,
    /// Apply the request, then never answer: the answer is lost after the write landed.
    ApplyThenHang,
    /// Apply the request, then answer its 2xx status with a body that is not valid JSON.
    ApplyThenMalformed,
}

/// Shared simulator state for the admin surface.
#[derive(Debug, Default)]
pub struct Admin {
    /// Request counters.
    pub stats: Stats,
    plan: Mutex<FaultPlan>,
}

enum Decision {
    Pass(Duration),
    Act(Duration, FaultAction, StatusCode, Option<u64>),
}

impl Admin {
    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        *self.plan.lock().expect("fault lock") = plan;
    }

    /// Clears faults and counters.
    pub fn reset(&self) {
        self.set_faults(FaultPlan::default());
        self.stats.reset();
    }

    fn decide(&self, route: &str) -> Decision {
        let mut plan = self.plan.lock().expect("fault lock");
        let base = Duration::from_millis(plan.latency_ms);
        if plan.outage {
            return Decision::Act(
                base,
                FaultAction::Error,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
            );
        }
        for rule in plan.rules.iter_mut() {
            if rule.route.as_deref().is_some_and(|r| r != route) || rule.times == Some(0) {
                continue;
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            let latency = base + Duration::from_millis(rule.latency_ms);
            if rule.action == FaultAction::Delay {
                return Decision::Pass(latency);
            }
            let status = rule
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Decision::Act(latency, rule.action, status, rule.retry_after_secs);
        }
        Decision::Pass(base)
    }
}

/// How a simulator writes its own error body for a status (GHL and Club OS differ).
pub type ErrorBody = fn(StatusCode, &str) -> Value;

/// The route key used in stats and fault rules: `METHOD /template`.
pub fn route_key(req: &Request) -> String {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned());
    format!("{} {template}", req.method())
}

/// Middleware (installed with `route_layer`): counts the request and applies the fault plan.
pub async fn admin_layer(
    State((admin, error_body)): State<(Arc<Admin>, ErrorBody)>,
    req: Request,
    next: Next,
) -> Response {
    let route = route_key(&req);
    let path = req.uri().path().to_owned();
    let response = match admin.decide(&route) {
        Decision::Pass(latency) => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            next.run(req).await
        }
        Decision::Act(latency, action, status, retry_after) => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            match action {
                FaultAction::ApplyThenHang => {
                    let applied = next.run(req).await;
                    admin.stats.record(&route, applied.status());
                    std::future::pending::<Response>().await
                }
                FaultAction::ApplyThenMalformed => {
                    let applied = next.run(req).await;
                    (
                        applied.status(),
                        [(header::CONTENT_TYPE, "application/json")],
                        "{\"unexpected\": [",
                    )
                        .into_response()
                }
                _ => {
                    let mut resp = fault_response(action, status, error_body(status, &path)).await;
                    if let Some(secs) = retry_after {
                        resp.headers_mut()
                            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
                    }
                    resp
                }
            }
        }
    };
    admin.stats.record(&route, response.status());
    response
}

async fn fault_response(action: FaultAction, status: StatusCode, body: Value) -> Response {
    match action {
        FaultAction::Error
        | FaultAction::Delay
        | FaultAction::ApplyThenHang
        | FaultAction::ApplyThenMalformed => (status, Json(body)).into_response(),
        FaultAction::Hang => std::future::pending::<Response>().await,
        FaultAction::Drop => {
            let broken = futures_util::stream::iter([
                Ok(axum::body::Bytes::from_static(b"{\"partial\":")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault: connection dropped",
                )),
            ]);
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(broken))
                .expect("static response parts")
        }
        FaultAction::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"malformed\": tru",
        )
            .into_response(),
    }
}

/// `GET /_sim/stats`.
pub async fn get_stats(State(admin): State<Arc<Admin>>) -> Json<StatsSnapshot> {
    Json(admin.stats.snapshot())
}

/// `POST /_sim/faults`.
pub async fn post_faults(
    State(admin): State<Arc<Admin>>,
    Json(plan): Json<FaultPlan>,
) -> StatusCode {
    admin.set_faults(plan);
    StatusCode::NO_CONTENT
}
