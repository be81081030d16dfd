//! GHL's error answers as one small type, so that handlers can stop with `?`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::with_trace;

/// What a handler answers with.
pub type Reply = Result<Response, Reject>;

/// A request GHL refuses, with the status and body GHL uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// 400 `{statusCode, message}` (BadRequestDTO), e.g. `Contact with id … not found`.
    BadRequest(String),
    /// 400 for a body that is not JSON, as NestJS's body parser words it.
    BadJson(String),
    /// 422 with class-validator's messages.
    Unprocessable(Vec<String>),
    /// 403 for a token of another location.
    Forbidden,
    /// 400 for a create that would duplicate an existing contact.
    Duplicate {
        contact_id: String,
        contact_name: String,
        matching_field: &'static str,
    },
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                json!({"statusCode": 400, "message": message}),
            ),
            Self::BadJson(message) => (
                StatusCode::BAD_REQUEST,
                json!({"statusCode": 400, "message": message, "error": "Bad Request"}),
            ),
            Self::Unprocessable(messages) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"statusCode": 422, "message": messages, "error": "Unprocessable Entity"}),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"statusCode": 403, "message": "The token does not have access to this location."}),
            ),
            Self::Duplicate {
                contact_id,
                contact_name,
                matching_field,
            } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "statusCode": 400,
                    "message": "This location does not allow duplicated contacts.",
                    "meta": {
                        "contactName": contact_name,
                        "contactId": contact_id,
                        "matchingField": matching_field,
                    },
                }),
            ),
        };
        (status, Json(with_trace(body))).into_response()
    }
}

/// An `Ok` JSON answer with a status.
pub fn json_with(status: StatusCode, body: serde_json::Value) -> Reply {
    Ok((status, Json(body)).into_response())
}

/// An `Ok` 200 JSON answer.
pub fn json_ok(body: serde_json::Value) -> Reply {
    Ok(Json(body).into_response())
}
