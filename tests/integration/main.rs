//! The gateway's integration tests, in one binary: real servers on port 0 (the
//! simulators and the gateway) talking HTTP, and the store on every backend. One harness
//! ([`harness`]) starts them. The tests that run the `contactgraph` binary itself
//! (`tests/cli.rs`, `tests/crash.rs`) are binaries of their own.

// Test helpers panic with the failure they meet, as the tests themselves do.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod harness;

mod audit;
mod budgets;
mod clubos_sim;
mod contract_ghl;
mod gateway;
mod ghl_sim;
mod households;
mod identity;
mod oauth;
mod playground;
mod protocol;
mod read_model;
mod reads;
mod response_cache;
mod retried_creates;
mod secrets;
mod security;
mod store;
mod store_audit;
mod store_identity;
mod store_records;
mod store_writes;
mod sync;
mod webhooks;
mod writes;
