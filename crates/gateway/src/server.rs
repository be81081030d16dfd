//! The gateway's HTTP surface: `POST /graphql`, the GraphiQL playground at `GET /` (its
//! files under `/playground/`, see [`crate::playground`]),
//! `GET /healthz` (liveness), `GET /readyz` (readiness), `GET /metrics` (cache, outbox,
//! webhook and sync series, Prometheus text format), `POST /webhooks/ghl` (see [`crate::webhooks`]) and, when the gateway uses
//! GHL OAuth, the app's install endpoints (see [`crate::install`]).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use serde::Deserialize;

use async_graphql::ParseRequestError;
use async_graphql::{BatchRequest, BatchResponse};
use async_graphql::{
    Positioned,
    parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType},
};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse, rejection::GraphQLRejection};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    trace::TraceLayer,
};

use crate::{
    auth::{AuthError, Authenticator, Caller, Role},
    error::ErrorCode,
    install,
    limits::{self, LimitsConfig},
    loaders::{self, Loaders, Readers, RequestMeta},
    playground, response_cache,
    schema::{AppSchema, IdempotencyHeader},
    sync::{self, ghl::Propagation},
    upstream::ghl::GhlOAuth,
    webhooks::{self, GhlWebhooks},
};

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Cross-origin callers.
    pub cors: CorsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            cors: CorsConfig::default(),
        }
    }
}

/// `[server.cors]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins (`scheme://host[:port]`) whose pages may call `/graphql` and `/` from a
    /// browser. Empty: no CORS headers at all. `*` is refused.
    pub allowed_origins: Vec<String>,
}

impl CorsConfig {
    /// Every entry an exact origin as a browser sends it: `http` or `https`, a host, the
    /// port only when it is not the scheme's default, no path, query or trailing slash.
    /// The error is one line naming the key, never the value.
    pub fn check(&self) -> Result<(), String> {
        const KEY: &str = "server.cors.allowed_origins";
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if origin.trim() == "*" {
                return Err(format!(
                    "key `{KEY}` must not contain `*`: list each origin that may call the gateway"
                ));
            }
            let exact = url::Url::parse(origin).ok().is_some_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.origin().ascii_serialization() == *origin
            });
            if !exact {
                return Err(format!(
                    "key `{KEY}` entry {} is not an origin: expected scheme://host[:port] \
                     (http or https, no path or trailing slash)",
                    i + 1
                ));
            }
        }
        Ok(())
    }
}

/// What the playground opens with.
pub const EXAMPLE_QUERY: &str = r#"# contactgraph: one person over GHL and Club OS. Run an operation with the
# play button; the demo's banner prints ids that exist (GHL contact ids, Club OS
# user ids), and every `id` this API returns works too.

query Person($id: ID! = "170000002") {
  contact(id: $id) {
    id linkStatus linkedBy name email phones tags
    membership { status type followupStatus joinDate }
    homeLocation { name }
    conflicts { field ghlValue clubOsValue chosen }
    tasks { title dueDate completed source }
    notes { body createdAt source }
    appointments { title startTime status source }
  }
}

query Page($after: String) {
  contacts(first: 20, after: $after, filter: { linkStatus: LINKED }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name email membership { status type } } }
  }
}

query ByEmail {
  contactByEmail(email: "someone@example.com") { id name linkStatus }
}

query MembersMissingFromTheCrm {
  unlinkedMembers(first: 20) { edges { node { name email membership { status } } } }
}
"#;

/// How the router serves, beyond its [`Surface`].
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// A credential the playground sends with every request (the demo's key); `None`
    /// leaves the caller to add one in GraphiQL's headers pane.
    pub playground_key: Option<String>,
    /// Which other origins' pages may call `/graphql` and `/` (`server.cors`); none by
    /// default, and then no response carries CORS headers.
    pub cors: CorsConfig,
}

/// What the HTTP surface serves with, built once by the composition root.
#[derive(Clone)]
pub struct Surface {
    pub schema: AppSchema,
    /// What each request's loaders read through (and the store, for credentials).
    pub readers: Arc<Readers>,
    pub auth: Arc<Authenticator>,
    /// What one GraphQL request may ask (the checks the schema does not make).
    pub limits: LimitsConfig,
    /// Verification, deduplication and counters of GHL's webhook deliveries.
    pub webhooks: Arc<GhlWebhooks>,
    /// The GHL app's OAuth tokens, when `ghl.auth` is `oauth` (the install endpoints).
    pub oauth: Option<Arc<GhlOAuth>>,
    /// GHL changes carried to Club OS from webhooks, when `[sync] propagate` is on.
    pub propagation: Option<Arc<Propagation>>,
    /// What `/readyz` checks beyond the store and GHL.
    pub readiness: Readiness,
}

/// The sync sources `/readyz` watches.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The scheduled polls: the check's name, the source's cursor name, its interval.
    pub polls: Vec<(&'static str, &'static str, Duration)>,
    /// When the gateway started, epoch milliseconds (a poll that never ran yet is
    /// stalled only once its intervals have passed since then).
    pub started_ms: i64,
}

/// Parsed GraphQL documents by their text: clients send the same few documents, and
/// parsing is a large part of answering from cache.
type ParsedDocuments = moka::sync::Cache<String, ExecutableDocument>;

/// What the GraphQL, playground, health and metrics handlers share.
struct Shared {
    surface: Surface,
    parsed: ParsedDocuments,
    playground_key: Option<String>,
}

type SharedState = State<Arc<Shared>>;

/// The router: GraphQL, playground (page and its files), health, metrics, webhooks, and
/// the GHL app's install endpoints in OAuth mode.
pub fn router(surface: Surface, opts: RouterOptions) -> Router {
    let mut api: Router<Arc<Shared>> = Router::new()
        .route("/graphql", post(graphql))
        .route("/", get(playground));
    if let Some(cors) = cors_layer(&opts.cors) {
        api = api
            .layer(cors)
            .layer(axum::middleware::map_response(only_for_allowed_origins));
    }
    let oauth = surface.oauth.clone();
    let hooks = webhooks::router(
        surface.webhooks.clone(),
        surface.readers.clone(),
        surface.propagation.clone(),
    );
    let shared = Shared {
        surface,
        parsed: moka::sync::Cache::builder()
            .max_capacity(4 * 1024 * 1024)
            .weigher(|q: &String, _| u32::try_from(q.len() * 8).unwrap_or(u32::MAX))
            .build(),
        playground_key: opts.playground_key,
    };
    let mut router = api
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(shared))
        .merge(playground::routes())
        .merge(hooks);
    if let Some(oauth) = oauth {
        router = router.merge(install::router(oauth));
    }
    router
        .layer(DefaultBodyLimit::max(opts.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(opts.max_body_bytes))
        .layer(axum::middleware::from_fn(coded_refusals))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// CORS for `/graphql` and `/`: the configured origins only (the configuration refuses
/// `*`), `POST` and `GET`, the headers a caller sends (`X-API-Key` too, the other way to
/// pass a key), and no credentials (a caller's
/// credential is a header, never a cookie). `None` without origins: no CORS headers.
fn cors_layer(cfg: &CorsConfig) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = cfg
        .allowed_origins
        .iter()
        .filter(|o| o.as_str() != "*")
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-api-key"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Drops the preflight headers tower-http's CORS layer adds whatever the origin
/// (methods, headers, max age) from an answer to an origin it did not allow, so that
/// such an origin sees no CORS headers at all, as without the layer.
async fn only_for_allowed_origins(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_METHODS);
        headers.remove(header::ACCESS_CONTROL_ALLOW_HEADERS);
        headers.remove(header::ACCESS_CONTROL_MAX_AGE);
    }
    resp
}

/// A refusal before anything runs, in the GraphQL response shape, with the code's HTTP
/// status.
fn refuse(code: ErrorCode, message: &str) -> Response {
    refuse_as(code.http_status(), code, message)
}

/// [`refuse`] with the status HTTP itself prescribes for what the transport refused (a
/// body over the limit is 413, another verb is 405), whatever the code's own.
fn refuse_as(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]});
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// Whether the caller asked to read past every copy (`Cache-Control: no-cache`).
fn wants_read_through(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
}

/// Runs one GraphQL request with its own loaders; says in `extensions.cache` when some
/// of the answer came from stale cache entries because an upstream failed, and in
/// `extensions.freshness` how much came from the read model. `Cache-Control: no-cache`
/// reads everything the request touches from the upstreams, past caches and read model
/// (storing what it reads).
///
/// Before anything runs: the caller must authenticate (401) and may be bound to other
/// locations (403); the document must be within the size, alias and root-field limits
/// (400); a mutation needs the `write` role (403). Depth, complexity, recursion and
/// directives are checked by the schema's validation, which also runs before any
/// resolver. Every error of the answer carries a code of the closed set.
async fn graphql(
    State(shared): SharedState,
    headers: HeaderMap,
    batch: Result<GraphQLBatchRequest, GraphQLRejection>,
) -> Response {
    let s = &shared.surface;
    let caller = match s.auth.authenticate(&s.readers.store, &headers).await {
        Ok(c) => c,
        Err(e @ AuthError::Unavailable) => {
            return refuse(ErrorCode::StoreUnavailable, &e.to_string());
        }
        Err(e) => {
            return refuse(ErrorCode::Unauthenticated, &e.to_string());
        }
    };
    if !caller.may_use(s.readers.ghl.location_id(), s.readers.clubos.location_id()) {
        return refuse(
            ErrorCode::Forbidden,
            "this credential is not for this gateway's location",
        );
    }
    let batch = match batch {
        Ok(b) => b,
        Err(GraphQLRejection(ParseRequestError::PayloadTooLarge)) => return too_large(),
        Err(GraphQLRejection(e)) => {
            tracing::debug!(error = %e, "unreadable GraphQL request");
            return refuse(
                ErrorCode::BadUserInput,
                "the body is not a GraphQL request: JSON with a string `query` \
                 (and optional `variables` and `operationName`), or a list of them",
            );
        }
    };
    let idempotency = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if is_idempotency_key(k) => Some(k.to_owned()),
        Some(_) => {
            return refuse(
                ErrorCode::BadUserInput,
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
            );
        }
    };
    let (requests, single) = match batch.into_inner() {
        BatchRequest::Single(r) => (vec![r], true),
        BatchRequest::Batch(rs) => (rs, false),
    };
    if requests.len() > s.limits.max_batch {
        return refuse(
            ErrorCode::OperationLimitExceeded,
            &limits::LimitExceeded::Batch(requests.len(), s.limits.max_batch).to_string(),
        );
    }
    let idempotency = idempotency.filter(|_| single);
    let read_through = wants_read_through(&headers);
    let answers = &s.readers.caches.responses;
    let kept_key = (single && !read_through && answers.is_active())
        .then(|| requests_key(&requests, &caller))
        .flatten();
    if let Some(key) = &kept_key
        && let Some(kept) = answers.get(key, s.readers.store.logged_commits())
    {
        return kept_answer(&kept);
    }
    // Every operation of a batch is checked before any runs: one refusal refuses all.
    let mut prepared = Vec::with_capacity(requests.len());
    for req in requests {
        match prepare(&shared, &caller, req) {
            Ok(p) => prepared.push(p),
            Err(refusal) => return refusal,
        }
    }
    let responses = join_all(prepared.into_iter().map(|p| {
        let (schema, readers, caller) = (s.schema.clone(), s.readers.clone(), caller.clone());
        let idempotency = idempotency.clone();
        let noting = kept_key.is_some();
        async move {
            let mut req = match p {
                Ok(req) => req,
                Err(parse) => return (parse_failure(parse), None),
            };
            let operation = req.operation_name.clone();
            let keep = noting
                && req
                    .parsed_query()
                    .is_ok_and(|doc| response_cache::cacheable(doc, operation.as_deref()));
            let meta = if read_through {
                RequestMeta::reading_through()
            } else {
                RequestMeta::default()
            };
            let meta = Arc::new(if keep { meta.noting_reads() } else { meta });
            let began = readers.caches.responses.begin();
            let mut req = req.data(Loaders::new(readers, meta.clone())).data(caller);
            if let Some(key) = idempotency {
                req = req.data(IdempotencyHeader(key));
            }
            let mut response = schema.execute(req).await;
            let unlabelled = if response.data == async_graphql::Value::Null {
                ErrorCode::GraphqlValidationFailed
            } else {
                ErrorCode::BadUserInput
            };
            label(&mut response, unlabelled);
            for (name, ext) in loaders::extensions(&meta) {
                if let Ok(value) = async_graphql::Value::from_json(ext) {
                    response.extensions.insert(name.into(), value);
                }
            }
            let tags = (response.errors.is_empty() && meta.served_as_held())
                .then(|| meta.tags())
                .flatten();
            (response, tags.map(|t| (t, began)))
        }
    }))
    .await;
    let mut responses = responses;
    if single && let Some((r, tags)) = responses.pop() {
        let answer = GraphQLResponse::from(r).into_response();
        return match (kept_key, tags) {
            (Some(key), Some((tags, began))) => {
                keep_answer(answers, &key, tags, began, answer).await
            }
            _ => answer,
        };
    }
    let responses = responses.into_iter().map(|(r, _)| r).collect();
    GraphQLResponse::from(BatchResponse::Batch(responses)).into_response()
}

/// The response cache's key of a single request: its document, operation name and
/// variables, and the caller's scope (role and location binding).
fn requests_key(
    requests: &[async_graphql::Request],
    caller: &Caller,
) -> Option<response_cache::Key> {
    let [req] = requests else {
        return None;
    };
    let variables = serde_json::to_string(&req.variables).ok()?;
    let scope = format!("{:?}|{:?}", caller.role, caller.binding);
    Some(response_cache::Key::new(
        &req.query,
        req.operation_name.as_deref(),
        &variables,
        &scope,
    ))
}

/// A kept answer, as it first went out.
fn kept_answer(kept: &response_cache::Kept) -> Response {
    let mut response = Response::new(axum::body::Body::from(kept.body.clone()));
    *response.headers_mut() = kept.headers.clone();
    response
}

/// Keeps a successful answer in the response cache and sends it.
async fn keep_answer(
    answers: &response_cache::ResponseCache,
    key: &response_cache::Key,
    tags: Vec<response_cache::Tag>,
    began: u64,
    answer: Response,
) -> Response {
    if answer.status() != StatusCode::OK {
        return answer;
    }
    let (parts, body) = answer.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return refuse(ErrorCode::Internal, "the answer could not be sent");
    };
    let kept = Arc::new(response_cache::Kept {
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    answers.put(key, kept, tags, began);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The answer to a document that is not GraphQL: the parser's error, with its line and
/// column.
fn parse_failure(e: async_graphql::ServerError) -> async_graphql::Response {
    let mut response = async_graphql::Response::from_errors(vec![e]);
    label(&mut response, ErrorCode::GraphqlParseFailed);
    response
}

/// The 413 of a body over `server.max_body_bytes`, in the GraphQL error shape.
fn too_large() -> Response {
    refuse_as(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::OperationLimitExceeded,
        "the request body is larger than this gateway accepts",
    )
}

/// Whether an `Idempotency-Key` header value is usable: 1 to 255 visible ASCII
/// characters (a key that cannot be compared exactly would silently run twice).
fn is_idempotency_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

/// Answers what the router refuses on `/graphql` before the handler runs (a body over
/// the limit, another verb than POST) as JSON with a code, like every other answer.
async fn coded_refusals(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let on_graphql = req.uri().path() == "/graphql";
    let resp = next.run(req).await;
    if !on_graphql {
        return resp;
    }
    match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json(&resp) => too_large(),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut refusal = refuse_as(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::BadUserInput,
                "send GraphQL requests with POST",
            );
            refusal.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static("POST"),
            );
            refusal
        }
        _ => resp,
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Checks one operation before it runs: its size, aliases and root fields, and that the
/// caller may run a mutation. `Ok(Err(..))` is a document that does not parse.
#[allow(clippy::result_large_err)]
fn prepare(
    shared: &Shared,
    caller: &Caller,
    mut req: async_graphql::Request,
) -> Result<Result<async_graphql::Request, async_graphql::ServerError>, Response> {
    let over = |e: limits::LimitExceeded| refuse(ErrorCode::OperationLimitExceeded, &e.to_string());
    let limits = &shared.surface.limits;
    limits::check_size(&req.query, limits).map_err(over)?;
    let (doc, parsed_now) = match shared.parsed.get(&req.query) {
        Some(doc) => (doc, false),
        None => match req.parsed_query() {
            Ok(doc) => (doc.clone(), true),
            Err(e) => return Ok(Err(e)),
        },
    };
    limits::check_document(&doc, req.operation_name.as_deref(), limits).map_err(over)?;
    if runs_mutation(&doc, req.operation_name.as_deref()) && caller.role < Role::Write {
        return Err(refuse(
            ErrorCode::Forbidden,
            "mutations need the `write` role",
        ));
    }
    if parsed_now {
        shared.parsed.insert(req.query.clone(), doc.clone());
    }
    req.set_parsed_query(doc);
    Ok(Ok(req))
}

/// Whether the operation the request runs is a mutation.
fn runs_mutation(doc: &ExecutableDocument, operation: Option<&str>) -> bool {
    let is_mutation = |op: &Positioned<OperationDefinition>| op.node.ty == OperationType::Mutation;
    match &doc.operations {
        DocumentOperations::Single(op) => is_mutation(op),
        DocumentOperations::Multiple(ops) => match operation {
            Some(name) => ops.get(name).is_some_and(is_mutation),
            None => ops.values().any(is_mutation),
        },
    }
}

/// Gives every error that has no code one: async-graphql's own limit errors are
/// `OPERATION_LIMIT_EXCEEDED`, the rest `otherwise`.
fn label(response: &mut async_graphql::Response, otherwise: ErrorCode) {
    const LIMITS: [&str; 4] = [
        "Query is nested too deep",
        "Query is too complex",
        "The number of directives on the field",
        "The recursion depth of the query",
    ];
    for e in &mut response.errors {
        // async-graphql says a required variable without a value "is not defined".
        if let Some(name) = e
            .message
            .strip_prefix("Variable ")
            .and_then(|m| m.strip_suffix(" is not defined."))
            .filter(|n| !n.contains(' '))
        {
            e.message = format!(
                "variable ${name} is missing: the operation requires it and `variables` gives no value"
            );
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::BadUserInput.as_str());
        }
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            let code = if LIMITS.iter().any(|m| e.message.starts_with(m)) {
                ErrorCode::OperationLimitExceeded
            } else {
                otherwise
            };
            ext.set("code", code.as_str());
        }
    }
}

/// The span of one request: method and path only. Query strings stay out of logs (the
/// install callback's carries GHL's authorization code).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
}

/// GraphiQL with the example operations and, in the demo, the demo's key in the headers
/// pane and on every request (the demo listens on loopback only by default; a served
/// gateway shows no key). Its files come from the binary (see [`crate::playground`]).
async fn playground(State(shared): SharedState) -> Html<String> {
    let key = shared.playground_key.as_deref();
    Html(playground::page("/graphql", EXAMPLE_QUERY, key))
}

async fn metrics(State(shared): SharedState) -> String {
    let s = &shared.surface;
    let mut out = s.readers.caches.prometheus();
    out.push_str(&s.readers.caches.responses.prometheus());
    out.push_str(&s.webhooks.prometheus());
    match s.readers.store.leg_counts().await {
        Ok(counts) => {
            out.push_str(
                "# HELP contactgraph_outbox_writes Upstream writes in the outbox, by state.\n\
                 # TYPE contactgraph_outbox_writes gauge\n",
            );
            for (leg_state, n) in counts {
                out.push_str(&format!(
                    "contactgraph_outbox_writes{{state=\"{}\"}} {n}\n",
                    leg_state.as_str()
                ));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count outbox writes"),
    }
    match sync::metrics::prometheus(&s.readers.store, &s.readers.ghl.budget()).await {
        Ok(text) => out.push_str(&text),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the sync engine's state"),
    }
    out
}

/// Liveness with what is degraded: always 200 while the process serves, `status` is
/// `degraded` when the store does not answer or GHL has paused the location for longer
/// than a request's deadline (reads that need GHL then fail at once as rate limited, with
/// `retryAfter` seconds, and writes wait in the outbox).
async fn healthz(State(shared): SharedState) -> Json<Value> {
    let readers = &shared.surface.readers;
    let store = match readers.store.ping().await {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => {
            tracing::warn!(error = %e, "health: the store does not answer");
            json!({"status": "unavailable"})
        }
    };
    let ghl = match readers.ghl.paused() {
        None => json!({"status": "ok"}),
        Some(left) => json!({"status": "paused", "retryAfter": left.as_secs().max(1)}),
    };
    let ok = store["status"] == "ok" && ghl["status"] == "ok";
    Json(json!({
        "status": if ok { "ok" } else { "degraded" },
        "checks": {"store": store, "ghl": ghl},
    }))
}

/// `GET /readyz`: 200 when the gateway can do its work, 503 (with the same checks as
/// `/healthz` and the sync sources') when the store does not answer, GHL has paused the
/// location, or a scheduled sync source has not succeeded for
/// [`sync::STALL_INTERVALS`] intervals. `/healthz` stays a liveness probe.
async fn readyz(State(shared): SharedState) -> (StatusCode, Json<Value>) {
    let Json(mut health) = healthz(State(shared.clone())).await;
    let mut ready = health["status"] == "ok";
    let r = &shared.surface.readiness;
    for &(check_name, source, every) in &r.polls {
        let cursor = shared.surface.readers.store.sync_cursor(source).await;
        let check = match cursor {
            Ok(c) => {
                let last = c.as_ref().and_then(|c| c.last_success_ms);
                let error = c.and_then(|c| c.last_error);
                if sync::stalled(crate::store::now_ms(), r.started_ms, last, every) {
                    ready = false;
                    json!({"status": "stalled", "lastError": error})
                } else {
                    json!({"status": "ok"})
                }
            }
            Err(_) => {
                ready = false;
                json!({"status": "unavailable"})
            }
        };
        health["checks"][check_name] = check;
    }
    health["status"] = json!(if ready { "ok" } else { "not_ready" });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

/// Binds `listen` and serves `router` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the listener, with the address in the error.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
