//! The gateway's HTTP surface: `POST /graphql`, the GraphiQL playground at `GET /`, and
//! `GET /healthz`.

use std::{future::Future, net::SocketAddr};

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQL;
use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    response::Html,
    routing::{get, post_service},
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::schema::AppSchema;

/// What the playground opens with.
pub const EXAMPLE_QUERY: &str = r#"# A person, merged from GHL and Club OS. Paste an id from the
# demo's banner (GHL contact id, Club OS user id, or a contactgraph id).
query Person($id: ID!) {
  contact(id: $id) {
    id
    linkStatus
    firstName
    lastName
    email
    phone
    ghl { id tags dateAdded }
    clubOs { userId membershipStatus membershipType homeLocationId barcode }
  }
}
"#;

/// The router: GraphQL, playground and health.
pub fn router(schema: AppSchema, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", post_service(GraphQL::new(schema)))
        .route("/", get(playground))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
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
