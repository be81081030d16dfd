//! The contactgraph gateway: one GraphQL API over a fitness club's CRM (HighLevel,
//! "GHL") and its member system (Club OS). The `contactgraph` binary (the workspace's
//! root package) runs it; the simulators are a crate of their own, which this one never
//! depends on.
//!
//! # Layout
//!
//! - [`gateway`]: the composition root: a gateway from a configuration, with its relay.
//! - [`shutdown`]: when the process should stop (Ctrl-C, SIGTERM).
//! - [`config`]: the configuration tree, loaded from TOML and `CONTACTGRAPH_*` variables.
//! - [`server`]: the gateway's HTTP surface (`/graphql`, GraphiQL, `/healthz`).
//! - [`playground`]: the GraphiQL page and the files it loads, embedded in the binary.
//! - [`schema`]: the GraphQL schema, independent of HTTP.
//! - [`linking`]: which GHL contact is which Club OS user, and how their fields merge.
//! - [`loaders`]: per-request DataLoaders over the [`cache`]s and the [`read_model`].
//! - [`read_model`]: the store's copy of the upstream records, and when it may be served.
//! - [`clock`]: the outbox's time, injectable for tests.
//! - [`store`]: the gateway's durable store (SQLite or PostgreSQL).
//! - [`writes`]: mutations fanned out to both systems: idempotency, outbox, relay.
//! - [`sync`]: work the gateway does on its own: the link sweep.
//! - [`upstream`]: typed clients for GHL and Club OS (retries, rate limiting, errors).
//! - [`install`]: the GHL Marketplace app's install endpoints (OAuth code exchange).
//! - [`webhooks`]: `POST /webhooks/ghl`, verified GHL events turned into cache invalidation.

pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod error;
pub mod gateway;
pub mod install;
pub mod limits;
pub mod linking;
pub mod loaders;
pub mod phone;
pub mod playground;
pub mod read_model;
pub mod response_cache;
pub mod schema;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod upstream;
pub mod webhooks;
pub mod writes;
