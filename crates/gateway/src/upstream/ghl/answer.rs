//! How a non-2xx GHL answer reads as an [`UpstreamError`]: its status, its `message`
//! (a string or a list), the duplicate contact it names, and its rate-limit headers.

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::upstream::UpstreamError;

/// A numeric header's value, if it has one.
pub(super) fn header_num<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn message_of(body: &Value) -> Vec<String> {
    match body.get("message") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Maps a non-2xx GHL answer to the typed error.
pub(super) fn error_for(status: StatusCode, headers: &HeaderMap, body: &Value) -> UpstreamError {
    let messages = message_of(body);
    let message = messages.first().cloned().unwrap_or_default();
    match status.as_u16() {
        400 if body.pointer("/meta/contactId").is_some() => UpstreamError::Duplicate {
            existing_id: body
                .pointer("/meta/contactId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            matching_field: body
                .pointer("/meta/matchingField")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        400 if message.ends_with("not found") => UpstreamError::NotFound { message },
        400 | 422 => UpstreamError::Invalid { messages },
        401 => UpstreamError::Unauthorized { message },
        403 => UpstreamError::Forbidden { message },
        404 => UpstreamError::NotFound { message },
        429 => {
            let daily_exhausted =
                header_num::<u64>(headers, "x-ratelimit-daily-remaining") == Some(0);
            let retry_after = header_num::<u64>(headers, "retry-after")
                .map(Duration::from_secs)
                .or_else(|| {
                    header_num::<u64>(headers, "x-ratelimit-interval-milliseconds")
                        .map(Duration::from_millis)
                });
            UpstreamError::RateLimited {
                retry_after,
                daily_exhausted,
            }
        }
        s => UpstreamError::Unavailable { status: s },
    }
}

/// A 401 that a fresh token cannot cure: the token lacks a scope (`ghl-api.md` §13.14).
pub(super) fn refuses_a_scope(err: &UpstreamError) -> bool {
    matches!(err, UpstreamError::Unauthorized { message } if message.contains("scope"))
}
