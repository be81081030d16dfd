//! Typed HTTP clients for the two systems of record, and what they share: the error
//! type, the read retry policy and the client-side rate limiter.

pub mod clubos;
pub mod error;
pub mod ghl;
pub mod ratelimit;
pub mod retry;

pub use error::UpstreamError;
pub use retry::{RetryConfig, RetryPolicy};
