//! The messages of an entity's latest transitions, stored with the entity: written in the
//! same conditional write as the transition, sent after it, then marked published. A
//! redelivery that finds its transition already made sends only what is not yet marked.

use serde::{Deserialize, Serialize};

use crate::ports::OutboundMessage;

/// The messages one transition produced, and what caused it (`created`,
/// `prepayment:<payment_ref>`, `audit:<audit_id>`, `tick:<attempt>`, a status key...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub cause: String,
    pub messages: Vec<OutboundMessage>,
    /// Set once the messages are known to be out; a redelivery of the cause then sends
    /// nothing. Unset, a redelivery sends them (again).
    #[serde(default)]
    pub published: bool,
}

/// Transitions whose messages are kept for re-sending.
const KEEP: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Outbox(Vec<OutboxEntry>);

impl Outbox {
    /// Records the messages of a transition caused by `cause`.
    pub fn emit(&mut self, cause: &str, messages: Vec<OutboundMessage>) {
        self.0.push(OutboxEntry { cause: cause.to_string(), messages, published: false });
        if self.0.len() > KEEP {
            self.0.remove(0);
        }
    }

    /// The messages of `cause` not yet known to be out.
    pub fn unpublished(&self, cause: &str) -> &[OutboundMessage] {
        self.0.iter().rev().find(|e| e.cause == cause && !e.published).map(|e| e.messages.as_slice()).unwrap_or(&[])
    }

    /// Records that the messages of `cause` are out, dropping their bodies: only the fact
    /// is needed from then on, and the item stays small. `false` if there was nothing.
    pub fn mark_published(&mut self, cause: &str) -> bool {
        match self.0.iter_mut().rev().find(|e| e.cause == cause && !e.published) {
            Some(entry) => {
                entry.published = true;
                entry.messages.clear();
                true
            }
            None => false,
        }
    }

    /// The messages of the latest transition.
    pub fn latest(&self) -> &[OutboundMessage] {
        self.0.last().map(|e| e.messages.as_slice()).unwrap_or(&[])
    }

    /// The cause of the latest transition.
    pub fn last_cause(&self) -> Option<&str> {
        self.0.last().map(|e| e.cause.as_str())
    }
}
