//! The library's error type, and how callers classify it.

use thiserror::Error;

/// Everything that can go wrong in the library. HTTP handlers map it to the contract's
/// JSON error shape (`From<&Error> for` [`crate::edge::http::ApiResponse`]); queue
/// handlers ask [`Error::is_retryable`] whether a record should be retried or is poison.
#[derive(Debug, Error)]
pub enum Error {
    /// The input broke a rule; `field` names the culprit (JSON path style, e.g.
    /// `items[0].unit_price`).
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// The request body is not usable at all (not JSON, not an object).
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
    #[error("body: larger than the {limit} byte limit")]
    TooLarge { limit: usize },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request is well formed but clashes with the current state (a reused natural
    /// key with a different body, a transition the state does not allow).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this (a reviewer of another role deciding a refund, a token
    /// without the route's scope).
    #[error("{0}")]
    Forbidden(String),
    /// The request carries no usable credentials (no token, or one the authorizer did
    /// not accept).
    #[error("{0}")]
    Unauthorized(String),
    #[error("store: {0}")]
    Store(#[source] StoreError),
    #[error("publish: {0}")]
    Publish(String),
    #[error("queue: {0}")]
    Queue(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation { field: bounded(field.into()), message: bounded(message.into()) }
    }

    pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Malformed { field: bounded(field.into()), message: bounded(message.into()) }
    }

    /// Transient failures (I/O, lost optimistic-lock races) are worth retrying; bad input
    /// and missing entities are not and belong in a dead-letter queue.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(StoreError::ConditionFailed) => true,
            Error::Store(StoreError::Backend(_)) | Error::Publish(_) | Error::Queue(_) => true,
            Error::Store(StoreError::Corrupt(_)) => false,
            Error::Validation { .. }
            | Error::Malformed { .. }
            | Error::TooLarge { .. }
            | Error::NotFound { .. }
            | Error::Conflict(_)
            | Error::Forbidden(_)
            | Error::Unauthorized(_) => false,
        }
    }
}

/// Longest message or field name an input error carries: whatever value a message
/// quotes, a caller never gets a huge input echoed back (nor a log line or a
/// dead-letter reason that size).
pub const MAX_MESSAGE_CHARS: usize = 300;

pub(crate) fn bounded(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_MESSAGE_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// What a [`crate::ports::StateStore`] reports.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A conditional write's condition did not hold (the item exists, or its version
    /// moved on). Callers reload and decide again.
    #[error("condition failed")]
    ConditionFailed,
    /// A stored item could not be decoded.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Backend(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_never_echo_a_huge_value() {
        let err = Error::validation("sku", format!("{:?} is not allowed", "é".repeat(10_000)));
        let Error::Validation { message, .. } = &err else { panic!("{err:?}") };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(Error::malformed("body", "short").to_string() == "body: short");
    }
}
