//! Typed HTTP clients for the two systems of record, and what they share: the error
//! type, the read retry policy and the client-side rate limiter.
//!
//! TLS is rustls (reqwest's `rustls` feature), verifying servers against the operating
//! system's root certificates (rustls-platform-verifier; `ca-certificates` on Debian):
//! building needs no OpenSSL headers, and a private CA added to the system store is
//! trusted as it would be by any other program there.

pub mod clubos;
pub mod error;
pub mod ghl;
pub mod ratelimit;
pub mod retry;

pub use error::UpstreamError;
pub use retry::{RetryConfig, RetryPolicy};

/// Whole-request timeout of both clients unless configured.
pub(crate) fn default_timeout_ms() -> u64 {
    10_000
}

/// Connect timeout of both clients unless configured.
pub(crate) fn default_connect_timeout_ms() -> u64 {
    3_000
}

/// Calls in flight at once per client unless configured.
pub(crate) fn default_max_concurrency() -> usize {
    16
}
