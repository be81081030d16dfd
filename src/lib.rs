//! contactgraph: one GraphQL API over a fitness club's CRM (HighLevel, "GHL") and its
//! member system (Club OS).
//!
//! # Layout
//!
//! The workspace has three parts:
//!
//! - `crates/gateway` (`contactgraph-gateway`): the gateway itself, re-exported here
//!   whole: [`gateway`] (the composition root), [`config`], [`server`], [`schema`],
//!   [`linking`], [`loaders`], [`cache`], [`store`], [`writes`], [`upstream`],
//!   [`webhooks`], [`install`], [`auth`], [`limits`], [`clock`], [`shutdown`].
//! - `crates/sim` (`contactgraph-sim`, re-exported as `sim` with the `sim` feature): the
//!   GHL and Club OS simulators, for tests, benchmarks and the demo. The gateway never
//!   depends on it.
//! - this package: the `contactgraph` binary, its commands ([`cli`], [`sync_cmd`], which
//!   drives a running gateway's sync engine) and, with the `sim`
//!   feature (on by default), the demo: both simulators and the gateway in one process.
//!   A production build (`--no-default-features`, as the Docker image does) has no
//!   simulator in it.

pub use contactgraph_gateway::*;

pub mod cli;
#[cfg(feature = "sim")]
pub mod demo;
pub mod sync_cmd;
#[cfg(feature = "sim")]
pub use contactgraph_sim as sim;

/// mimalloc instead of the system allocator: answering a request allocates and frees
/// many small values (field values, cloned cache entries), and glibc's allocator took
/// about a third of the CPU of warm requests in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
