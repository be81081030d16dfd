//! The gateway's public error contract: one closed set of `extensions.code` values.
//! Messages are the gateway's own words; an upstream's raw text, URLs and internals
//! stay in the logs at most.

use std::fmt;

use async_graphql::ErrorExtensions;
use serde::Serialize;

use crate::upstream::UpstreamError;

/// Every code a GraphQL error of this gateway can carry in `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request itself is wrong (bad id, bad argument); the field names what.
    BadUserInput,
    /// The person or record does not exist.
    NotFound,
    /// An upstream could not be reached, timed out, failed or answered garbage.
    UpstreamUnavailable,
    /// An upstream's rate limit is spent; try again later.
    UpstreamRateLimited,
    /// An upstream refused the gateway's credential (a configuration problem).
    UpstreamAuth,
    /// An upstream refused the request as it stands (validation, duplicate).
    UpstreamRejected,
    /// Several records match where one was asked for; `extensions.candidates` lists them.
    Ambiguous,
    /// The gateway's own store cannot be reached.
    StoreUnavailable,
    /// The idempotency key was used before with a different input.
    IdempotencyKeyReused,
    /// Another request with this idempotency key is still running.
    IdempotencyInProgress,
    /// No credential, or one that is not valid (HTTP 401).
    Unauthenticated,
    /// The caller's role or location binding does not allow this operation.
    Forbidden,
    /// The document goes over a limit: size, depth, complexity, aliases, root fields,
    /// directives, recursion.
    OperationLimitExceeded,
    /// The document is not valid GraphQL syntax.
    GraphqlParseFailed,
    /// The document does not fit the schema (unknown field, wrong argument type, ...).
    GraphqlValidationFailed,
    /// Something failed inside the gateway; the logs say what.
    Internal,
}

impl ErrorCode {
    /// The wire form, e.g. `UPSTREAM_UNAVAILABLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::UpstreamRateLimited => "UPSTREAM_RATE_LIMITED",
            Self::UpstreamAuth => "UPSTREAM_AUTH",
            Self::UpstreamRejected => "UPSTREAM_REJECTED",
            Self::Ambiguous => "AMBIGUOUS",
            Self::StoreUnavailable => "STORE_UNAVAILABLE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::OperationLimitExceeded => "OPERATION_LIMIT_EXCEEDED",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::Internal => "INTERNAL",
        }
    }
}

/// Which system of record an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Ghl,
    ClubOs,
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ghl => "GHL",
            Self::ClubOs => "CLUB_OS",
        })
    }
}

/// An error as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GatewayError {
    pub code: ErrorCode,
    pub message: String,
    pub system: Option<System>,
    /// The input field at fault, for `BAD_USER_INPUT`.
    pub field: Option<String>,
    /// Seconds until the upstream takes requests again, for `UPSTREAM_RATE_LIMITED`.
    pub retry_after_secs: Option<u64>,
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            system: None,
            field: None,
            retry_after_secs: None,
        }
    }

    /// Phrases an upstream failure without the upstream's own text.
    pub fn upstream(system: System, err: &UpstreamError) -> Self {
        let name = match system {
            System::Ghl => "GHL",
            System::ClubOs => "Club OS",
        };
        let (code, message) = match err {
            UpstreamError::NotFound { .. } => {
                (ErrorCode::NotFound, format!("{name} has no such record"))
            }
            UpstreamError::Unauthorized { .. } | UpstreamError::Forbidden { .. } => (
                ErrorCode::UpstreamAuth,
                format!("{name} refused the gateway's credential"),
            ),
            UpstreamError::Duplicate { existing_id, .. } => (
                ErrorCode::UpstreamRejected,
                match existing_id {
                    Some(id) => format!("{name} already holds a matching record ({id})"),
                    None => format!("{name} already holds a matching record"),
                },
            ),
            UpstreamError::Invalid { .. } => (
                ErrorCode::UpstreamRejected,
                format!("{name} refused the request"),
            ),
            UpstreamError::RateLimited { .. } => (
                ErrorCode::UpstreamRateLimited,
                format!("{name} rate limit reached; try again shortly"),
            ),
            UpstreamError::Unavailable { .. }
            | UpstreamError::Timeout
            | UpstreamError::Transport(_)
            | UpstreamError::Decode(_) => (
                ErrorCode::UpstreamUnavailable,
                format!("{name} is unavailable"),
            ),
        };
        Self {
            code,
            message,
            system: Some(system),
            field: None,
            retry_after_secs: err.retry_after().map(|d| d.as_secs_f64().ceil() as u64),
        }
    }
}

impl ErrorExtensions for GatewayError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, e| {
            e.set("code", self.code.as_str());
            if let Some(system) = self.system {
                e.set("system", system.to_string());
            }
            if let Some(field) = &self.field {
                e.set("field", field.clone());
            }
            if let Some(secs) = self.retry_after_secs {
                e.set("retryAfter", secs);
            }
        })
    }
}
