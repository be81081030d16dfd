//! The typed error both upstream clients return. Callers branch on the variant (not found
//! vs rate limited vs unavailable), loaders clone it to every waiting key, and its text
//! never carries a token, a URL with its query string, or an upstream stack trace.

use std::time::Duration;

use thiserror::Error;

/// What went wrong talking to an upstream.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// 401: bad, expired or missing credential, or a missing scope.
    #[error("upstream rejected the credential: {message}")]
    Unauthorized { message: String },
    /// 403: the credential is valid but not for this location.
    #[error("upstream denied access: {message}")]
    Forbidden { message: String },
    /// The record does not exist (GHL says so with a 400).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// A create hit an existing record; `existing_id` names it when the upstream says.
    #[error("duplicate of existing record {existing_id:?}")]
    Duplicate {
        existing_id: Option<String>,
        matching_field: Option<String>,
    },
    /// 422 or a validation 400: the request was refused as it stands.
    #[error("upstream refused the request: {}", messages.join("; "))]
    Invalid { messages: Vec<String> },
    /// 429: the rate limit is spent. `retry_after` from `Retry-After` or the window.
    #[error("upstream rate limit reached")]
    RateLimited {
        retry_after: Option<Duration>,
        daily_exhausted: bool,
    },
    /// 5xx or another status the client does not know.
    #[error("upstream unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    /// No answer within the timeout: the request may or may not have been applied.
    #[error("upstream timed out")]
    Timeout,
    /// Connection refused, reset or dropped.
    #[error("upstream connection failed: {0}")]
    Transport(String),
    /// A 2xx answer whose body was not the JSON the client expected: for a write, the
    /// upstream applied it (the outbox never sends it again).
    #[error("upstream answer could not be read: {0}")]
    Decode(String),
}

impl UpstreamError {
    /// Worth retrying for a read: connection trouble, 5xx, 429, timeout, a broken body.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Unavailable { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Decode(_)
        )
    }

    /// How long the upstream asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Maps a reqwest failure without its URL (which may carry query parameters).
    pub fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        let decode = err.is_decode() || err.is_body();
        let text = err.without_url().to_string();
        if decode {
            Self::Decode(text)
        } else {
            Self::Transport(text)
        }
    }
}
