//! An entity's timeline: every transition it went through, in order, with when, what
//! happened (the history events it added), who or what caused it (a caller, a message,
//! the schedule), its trace, the state before and after, and the messages it sent.
//! The one transition helper appends an entry to the entity it saves
//! ([`crate::store::Stored::record_transition`]); the entity keeps the latest
//! [`MAX_TRANSITIONS`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::trace::Actor;

/// Transitions an entity keeps; the oldest go first. An order goes through a few dozen
/// at most (placement, audits, re-audits, prepayment).
pub const MAX_TRANSITIONS: usize = 100;

/// A message a transition sent (through its outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at: DateTime<Utc>,
    /// The history events the transition added (`DISPATCHED`, `AUDIT_FAILED`, ...).
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The state before (absent for the creation) and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    #[serde(default)]
    pub messages: Vec<MessageRef>,
}

/// What the transition helper knows of a transition besides the entity itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub at: Option<DateTime<Utc>>,
    pub by: Option<Actor>,
    pub trace_id: Option<String>,
    pub messages: Vec<MessageRef>,
}

/// Appends `transition`, dropping the oldest beyond [`MAX_TRANSITIONS`].
pub fn push(timeline: &mut Vec<Transition>, transition: Transition) {
    timeline.push(transition);
    let excess = timeline.len().saturating_sub(MAX_TRANSITIONS);
    if excess > 0 {
        timeline.drain(..excess);
    }
}
