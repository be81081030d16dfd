//! The gateway's HTTP surface: `POST /graphql`, the GraphiQL playground at `GET /`,
//! `GET /healthz`, `GET /metrics` (cache, outbox and webhook counters, Prometheus text
//! format), `POST /webhooks/ghl` (see [`crate::webhooks`]) and, when the gateway uses
//! GHL OAuth, the app's install endpoints (see [`crate::install`]).

use std::{future::Future, net::SocketAddr};

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::HeaderMap,
    response::Html,
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::{
    install,
    loaders::{self, Loaders, RequestMeta},
    schema::{AppSchema, IdempotencyHeader},
    state::AppState,
    webhooks,
};

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

/// The router: GraphQL, playground, health, metrics, webhooks, and the GHL app's install
/// endpoints in OAuth mode.
pub fn router(schema: AppSchema, state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let mut router = Router::new()
        .route("/graphql", post(graphql))
        .route("/", get(playground))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state((schema, state.clone()))
        .merge(webhooks::router(state.clone()));
    if let Some(oauth) = state.ghl_oauth.clone() {
        router = router.merge(install::router(oauth));
    }
    router
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// Runs one GraphQL request with its own loaders; says in `extensions.cache` when some
/// of the answer came from stale cache entries because an upstream failed.
async fn graphql(
    State((schema, state)): State<(AppSchema, Arc<AppState>)>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> GraphQLResponse {
    let meta = Arc::new(RequestMeta::default());
    let mut req = req.into_inner();
    if let Some(doc) = state.parsed_queries.get(&req.query) {
        req.set_parsed_query(doc);
    } else if let Ok(doc) = req.parsed_query() {
        let doc = doc.clone();
        state.parsed_queries.insert(req.query.clone(), doc);
    }
    let loaders = Loaders::new(state, meta.clone());
    let mut req = req.data(loaders);
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        req = req.data(IdempotencyHeader(key.to_owned()));
    }
    let mut response = schema.execute(req).await;
    if let Some(ext) = loaders::extensions(&meta)
        && let Ok(value) = async_graphql::Value::from_json(ext)
    {
        response.extensions.insert("cache".into(), value);
    }
    response.into()
}

/// The span of one request: method and path only. Query strings stay out of logs (the
/// install callback's carries GHL's authorization code).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
}

async fn playground() -> Html<String> {
    let page = GraphiQLSource::build()
        .endpoint("/graphql")
        .title("contactgraph")
        .finish();
    let default_query = serde_json::to_string(EXAMPLE_QUERY).unwrap_or_default();
    Html(page.replacen(
        "React.createElement(GraphiQL, {",
        &format!("React.createElement(GraphiQL, {{\n          defaultQuery: {default_query},"),
        1,
    ))
}

async fn metrics(State((_, state)): State<(AppSchema, Arc<AppState>)>) -> String {
    let mut out = state.caches.prometheus();
    out.push_str(&state.webhooks.prometheus());
    match state.store.leg_counts().await {
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
    out
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
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
