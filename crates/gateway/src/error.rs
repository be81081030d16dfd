//! The gateway's public error contract: one closed set of codes for every surface
//! (`extensions.code` in GraphQL answers, `code` in webhook and install answers), each
//! with its HTTP status.
//! Messages are the gateway's own words; an upstream's raw text, URLs and internals
//! stay in the logs at most.

use std::fmt;

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::upstream::UpstreamError;

/// Every code an error of this gateway can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A GHL webhook delivery without a signature header.
    WebhookSignatureMissing,
    /// A GHL webhook signature that matches no configured key.
    WebhookSignatureInvalid,
    /// A signed GHL webhook body that is not a GHL event.
    WebhookPayloadInvalid,
    /// A GHL webhook delivery whose timestamp is outside the accepted window.
    WebhookStale,
    /// The GHL app install's callback does not match the install this browser started.
    OauthStateInvalid,
    /// The GHL app install's callback carries no authorization code.
    OauthCodeMissing,
    /// GHL refused the install's authorization code (unknown, used or expired).
    OauthCodeRejected,
    /// The app was installed in another location than this gateway's.
    OauthWrongLocation,
    /// GHL refused the app's client credentials (a configuration problem).
    OauthClientRejected,
}

impl ErrorCode {
    /// Every code, in the order of the enum.
    pub const ALL: [ErrorCode; 25] = [
        Self::BadUserInput,
        Self::NotFound,
        Self::UpstreamUnavailable,
        Self::UpstreamRateLimited,
        Self::UpstreamAuth,
        Self::UpstreamRejected,
        Self::Ambiguous,
        Self::StoreUnavailable,
        Self::IdempotencyKeyReused,
        Self::IdempotencyInProgress,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::OperationLimitExceeded,
        Self::GraphqlParseFailed,
        Self::GraphqlValidationFailed,
        Self::Internal,
        Self::WebhookSignatureMissing,
        Self::WebhookSignatureInvalid,
        Self::WebhookPayloadInvalid,
        Self::WebhookStale,
        Self::OauthStateInvalid,
        Self::OauthCodeMissing,
        Self::OauthCodeRejected,
        Self::OauthWrongLocation,
        Self::OauthClientRejected,
    ];

    /// The code with this wire form, if there is one.
    pub fn parse(wire: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == wire)
    }

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
            Self::WebhookSignatureMissing => "WEBHOOK_SIGNATURE_MISSING",
            Self::WebhookSignatureInvalid => "WEBHOOK_SIGNATURE_INVALID",
            Self::WebhookPayloadInvalid => "WEBHOOK_PAYLOAD_INVALID",
            Self::WebhookStale => "WEBHOOK_STALE",
            Self::OauthStateInvalid => "OAUTH_STATE_INVALID",
            Self::OauthCodeMissing => "OAUTH_CODE_MISSING",
            Self::OauthCodeRejected => "OAUTH_CODE_REJECTED",
            Self::OauthWrongLocation => "OAUTH_WRONG_LOCATION",
            Self::OauthClientRejected => "OAUTH_CLIENT_REJECTED",
        }
    }

    /// The HTTP status of an answer that is only this refusal: a request refused before
    /// anything ran, a webhook delivery, an install callback. (An error inside a GraphQL
    /// answer that ran comes with 200 and whatever data could be had.)
    pub fn http_status(self) -> StatusCode {
        match self {
            Self::BadUserInput
            | Self::GraphqlParseFailed
            | Self::GraphqlValidationFailed
            | Self::OperationLimitExceeded
            | Self::WebhookPayloadInvalid
            | Self::OauthStateInvalid
            | Self::OauthCodeMissing
            | Self::OauthCodeRejected
            | Self::OauthWrongLocation => StatusCode::BAD_REQUEST,
            Self::Unauthenticated
            | Self::WebhookSignatureMissing
            | Self::WebhookSignatureInvalid
            | Self::WebhookStale => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Ambiguous | Self::IdempotencyKeyReused | Self::IdempotencyInProgress => {
                StatusCode::CONFLICT
            }
            Self::UpstreamRateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnavailable
            | Self::UpstreamAuth
            | Self::UpstreamRejected
            | Self::OauthClientRejected => StatusCode::BAD_GATEWAY,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A system of record: where an error came from, where a write goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum System {
    Ghl,
    ClubOs,
}

impl System {
    /// The system with this wire form (`GHL`, `CLUB_OS`), if there is one.
    pub fn parse(wire: &str) -> Option<Self> {
        [Self::Ghl, Self::ClubOs]
            .into_iter()
            .find(|s| s.to_string() == wire)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when a code is added without being listed in `ALL` (its arm
    /// here says where it is).
    fn index(code: ErrorCode) -> usize {
        use ErrorCode::*;
        match code {
            BadUserInput => 0,
            NotFound => 1,
            UpstreamUnavailable => 2,
            UpstreamRateLimited => 3,
            UpstreamAuth => 4,
            UpstreamRejected => 5,
            Ambiguous => 6,
            StoreUnavailable => 7,
            IdempotencyKeyReused => 8,
            IdempotencyInProgress => 9,
            Unauthenticated => 10,
            Forbidden => 11,
            OperationLimitExceeded => 12,
            GraphqlParseFailed => 13,
            GraphqlValidationFailed => 14,
            Internal => 15,
            WebhookSignatureMissing => 16,
            WebhookSignatureInvalid => 17,
            WebhookPayloadInvalid => 18,
            WebhookStale => 19,
            OauthStateInvalid => 20,
            OauthCodeMissing => 21,
            OauthCodeRejected => 22,
            OauthWrongLocation => 23,
            OauthClientRejected => 24,
        }
    }

    #[test]
    fn every_code_has_one_spelling_and_the_readme_documents_it() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(index(code), i, "{code:?} is listed once, in order");
        }
        let readme = include_str!("../../../README.md");
        for code in ErrorCode::ALL {
            let serialized = serde_json::to_value(code).expect("serializes");
            assert_eq!(serialized, code.as_str(), "{code:?}");
            assert!(
                readme.contains(code.as_str()),
                "README.md does not document {}",
                code.as_str()
            );
        }
    }

    #[test]
    fn a_code_and_a_system_read_back_from_their_wire_form() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NOPE"), None);
        for system in [System::Ghl, System::ClubOs] {
            let wire = serde_json::to_value(system).expect("serializes");
            assert_eq!(wire, system.to_string());
            assert_eq!(System::parse(&system.to_string()), Some(system));
        }
    }

    #[test]
    fn a_refusal_before_anything_ran_has_its_codes_status() {
        assert_eq!(
            ErrorCode::Unauthenticated.http_status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ErrorCode::WebhookStale.http_status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ErrorCode::OauthClientRejected.http_status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            ErrorCode::StoreUnavailable.http_status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(
            ErrorCode::ALL
                .iter()
                .all(|c| c.http_status().as_u16() >= 400)
        );
    }
}
