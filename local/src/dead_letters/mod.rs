//! Dead letters with the reasons their consumers gave up on them, and moving them back
//! for another try: what `GET /_local/queues/{queue}/dead-letters` answers and what
//! `orderflow-local dead-letters` does, on a running runtime ([`http`]), a stopped
//! one's data directory (the [`Runtime`] itself) or a deployed stack ([`stack`]).
//!
//! - [`http`]: the `/_local` routes of a running `orderflow-local serve`.
//! - [`stack`]: a deployed stack's queues and table, found from its outputs.
//! - [`cli`]: the `list`, `show` and `redrive` commands on any of them.

pub mod cli;
pub mod http;
pub mod stack;

use std::collections::BTreeMap;

use async_trait::async_trait;
use orderflow_shared::ports::{Broker, ReceivedMessage, StateStore};
use orderflow_shared::store::dead_letters::{self, DeadLetterReason};
use orderflow_shared::topology::TOPOLOGY;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runtime::Runtime;

/// A message in a queue's dead-letter queue, with why its consumer gave up on it
/// (`None` when no reason was recorded: dead-lettered before reasons were kept, or the
/// reason has expired).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// The body as JSON when it is JSON, else as a string.
    pub body: Value,
    pub attributes: BTreeMap<String, String>,
    pub receive_count: u32,
    pub reason: Option<DeadLetterReason>,
}

/// Where dead letters are read and moved back. Errors name what is wrong (an unknown
/// queue by its name).
#[async_trait]
pub trait DeadLetterQueues: Send + Sync {
    /// The queue's dead letters, oldest first.
    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, String>;
    /// Moves every dead letter of the queue back onto it; the ids moved.
    async fn redrive(&self, queue: &str) -> Result<Vec<String>, String>;
}

/// The error for a queue the topology does not have.
pub fn unknown_queue(queue: &str) -> String {
    let known: Vec<&str> = TOPOLOGY.queues.iter().map(|q| q.name).collect();
    format!("unknown queue {queue:?}; the queues with dead-letter queues are {}", known.join(", "))
}

/// `messages` of `queue`'s dead-letter queue, each with its recorded reason.
pub async fn with_reasons(
    store: &dyn StateStore,
    queue: &str,
    messages: Vec<ReceivedMessage>,
) -> Result<Vec<DeadLetter>, String> {
    let mut all = Vec::with_capacity(messages.len());
    for m in messages {
        let reason = dead_letters::reason(store, queue, &m.message_id).await.map_err(|e| e.to_string())?;
        let body = serde_json::from_str::<Value>(&m.body).unwrap_or(Value::String(m.body));
        all.push(DeadLetter {
            message_id: m.message_id,
            body,
            attributes: m.attributes,
            receive_count: m.receive_count,
            reason,
        });
    }
    Ok(all)
}

/// Lists and redrives through a broker, with the reasons from a store: the runtime's
/// own, or a deployed stack's.
pub(crate) async fn list_on(
    broker: &dyn Broker,
    store: &dyn StateStore,
    queue: &str,
) -> Result<Vec<DeadLetter>, String> {
    if TOPOLOGY.queue(queue).is_none() {
        return Err(unknown_queue(queue));
    }
    let messages = broker.dead_letters(queue).await.map_err(|e| e.to_string())?;
    with_reasons(store, queue, messages).await
}

pub(crate) async fn redrive_on(broker: &dyn Broker, queue: &str) -> Result<Vec<String>, String> {
    if TOPOLOGY.queue(queue).is_none() {
        return Err(unknown_queue(queue));
    }
    broker.redrive(queue, usize::MAX).await.map_err(|e| e.to_string())
}

#[async_trait]
impl DeadLetterQueues for Runtime {
    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, String> {
        list_on(self.broker(), self.deps.store.as_ref(), queue).await
    }

    async fn redrive(&self, queue: &str) -> Result<Vec<String>, String> {
        redrive_on(self.broker(), queue).await
    }
}
