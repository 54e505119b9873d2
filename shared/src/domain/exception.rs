//! An order's audit exception (DOMAIN §1): opened when a retryable failure provisionally
//! accepts the order and its docking team is told, closed when the audit passes or the
//! retry window closes. It carries the docking person's re-audit requests, so a
//! repeated request is recognised, and is what a team's work queue lists.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::ReauditRule;

/// Longest note a docking person may give with a re-audit request.
pub const MAX_NOTE_CHARS: usize = 1000;

/// The most re-audit requests one exception takes: far more than a person asks for in
/// a retry window, and a bound on what the order stores.
pub const MAX_REAUDITS: usize = 50;

/// Whether an exception still waits for its audit to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExceptionState {
    Open,
    Closed,
}

impl ExceptionState {
    /// The name the API and the index use: `open`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionState::Open => "open",
            ExceptionState::Closed => "closed",
        }
    }

    /// Reads `open` or `closed`.
    pub fn parse(text: &str) -> Option<ExceptionState> {
        match text {
            "open" => Some(ExceptionState::Open),
            "closed" => Some(ExceptionState::Closed),
            _ => None,
        }
    }
}

/// A docking person's request for a re-audit now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauditAsk {
    pub request_id: String,
    pub note: String,
    /// Who asked: the token's subject.
    pub by: String,
}

/// A re-audit request as the exception keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauditRequest {
    pub request_id: String,
    pub note: String,
    pub by: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    pub team: String,
    pub opened_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// The re-audit rule as it stood when the exception closed (an open exception's is
    /// the order's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rule: Option<ReauditRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reaudits: Vec<ReauditRequest>,
}

impl Exception {
    pub fn open(team: &str, now: DateTime<Utc>) -> Exception {
        Exception { team: team.to_string(), opened_at: now, closed_at: None, last_rule: None, reaudits: Vec::new() }
    }

    pub fn state(&self) -> ExceptionState {
        if self.closed_at.is_some() {
            ExceptionState::Closed
        } else {
            ExceptionState::Open
        }
    }

    /// Closes it at `now`, keeping the rule it ended with; a closed one stays as it is.
    pub fn close(&mut self, now: DateTime<Utc>, rule: Option<ReauditRule>) {
        if self.closed_at.is_none() {
            self.closed_at = Some(now);
            self.last_rule = rule;
        }
    }

    /// The request this `request_id` made before, if any.
    pub fn request(&self, request_id: &str) -> Option<&ReauditRequest> {
        self.reaudits.iter().find(|r| r.request_id == request_id)
    }
}
