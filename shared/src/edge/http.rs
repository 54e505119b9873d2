//! The one JSON error shape of the HTTP API and the mapping from [`Error`] to it.

use serde_json::{json, Value};

use crate::error::Error;

/// A response ready to be written by whichever HTTP layer carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    /// The methods the path allows, for the `Allow` header of a 405.
    pub allow: Option<String>,
}

impl ApiResponse {
    pub fn new(status: u16, body: Value) -> ApiResponse {
        ApiResponse { status, body, allow: None }
    }

    pub fn error(status: u16, code: &str, message: &str, field: Option<&str>) -> ApiResponse {
        // Messages quote request paths and values: cut, so no huge input comes back.
        let mut error = json!({"code": code, "message": crate::error::bounded(message.to_string())});
        if let Some(field) = field {
            error["field"] = json!(crate::error::bounded(field.to_string()));
        }
        ApiResponse { status, body: json!({ "error": error }), allow: None }
    }

    pub fn not_found_route(method: &str, path: &str) -> ApiResponse {
        ApiResponse::error(404, "not_found", &format!("no route for {method} {path}"), None)
    }

    /// 405 with the `Allow` header listing `allowed`.
    pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> ApiResponse {
        let allow = allowed.join(", ");
        let message = format!("{method} is not allowed on {path}; allowed: {allow}");
        ApiResponse { allow: Some(allow), ..ApiResponse::error(405, "method_not_allowed", &message, None) }
    }
}

impl From<&Error> for ApiResponse {
    /// Client errors say what is wrong; server errors are logged and answered without
    /// internals.
    fn from(err: &Error) -> ApiResponse {
        match err {
            Error::Malformed { field, message } => ApiResponse::error(400, "validation_failed", message, Some(field)),
            Error::TooLarge { limit } => ApiResponse::error(
                413,
                "validation_failed",
                &format!("larger than the {limit} byte limit"),
                Some("body"),
            ),
            Error::Validation { field, message } => ApiResponse::error(422, "validation_failed", message, Some(field)),
            Error::NotFound { .. } => ApiResponse::error(404, "not_found", &err.to_string(), None),
            Error::Conflict(message) => ApiResponse::error(409, "conflict", message, None),
            Error::Forbidden(message) => ApiResponse::error(403, "forbidden", message, None),
            Error::Unauthorized(message) => ApiResponse::error(401, "unauthorized", message, None),
            Error::Store(_) | Error::Publish(_) | Error::Queue(_) => {
                tracing::error!(error = %err, "request failed");
                ApiResponse::error(500, "internal", "internal error; retry the request", None)
            }
        }
    }
}
