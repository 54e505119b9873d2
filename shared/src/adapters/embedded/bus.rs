//! SNS-like topics and SQS-like queues in one process, wired by the topology: a publish
//! is recorded on its topic and copied to every subscribed queue whose filter policy
//! passes; queues deliver at least once, hide received messages for their visibility
//! timeout and move a message to the dead-letter queue once it has been received
//! maxReceiveCount times. A message over the 256 KiB SNS/SQS limit (body and attributes,
//! [`oversized_message`]) is refused before anything is recorded or queued. The
//! [`Faults`] may crash a publish or a send just before or just after it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use super::faults::{Faults, NoFaults};
use super::filter;
use crate::error::Error;
use crate::ports::{
    oversized_message, Broker, Clock, OutboundMessage, Publisher, QueueSender, QueueStats, ReceivedMessage,
};
use crate::topology::{Queue, Topology};

/// A published message's copy for a subscribed queue: the queue, the body and the
/// message attributes.
pub(crate) type Delivery = (&'static str, String, BTreeMap<String, String>);

/// A message as recorded on its topic, for `GET /_local/topics/{topic}/messages`.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub message_id: String,
    /// The body, as JSON when it parses, else as a string.
    pub message: serde_json::Value,
    pub attributes: BTreeMap<String, String>,
    pub published_at: DateTime<Utc>,
}

/// A message as its topic keeps it: the body as sent, read as JSON only when asked for
/// ([`EmbeddedBus::published`]).
#[derive(Debug, Clone)]
struct Recorded {
    message_id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    published_at: DateTime<Utc>,
}

impl Recorded {
    fn published(&self) -> Published {
        Published {
            message_id: self.message_id.clone(),
            message: serde_json::from_str(&self.body).unwrap_or_else(|_| json!(self.body)),
            attributes: self.attributes.clone(),
            published_at: self.published_at,
        }
    }
}

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    receive_count: u32,
    visible_at: DateTime<Utc>,
    receipt: Option<String>,
}

struct QueueState {
    /// `None` for a queue no function consumes (the outbox relay's failure queue): it
    /// keeps what it is sent until someone reads it, with no redrive.
    spec: Option<Queue>,
    messages: VecDeque<Message>,
    dead: Vec<Message>,
}

#[derive(Default)]
struct State {
    topics: BTreeMap<String, VecDeque<Recorded>>,
    queues: BTreeMap<String, QueueState>,
    next_id: u64,
}

impl State {
    /// `prefix-1-<n>`: the ids of a data directory's first open
    /// ([`crate::adapters::durable`] counts its opens), which an in-memory bus always is.
    fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-1-{:08}", self.next_id)
    }
}

pub struct EmbeddedBus {
    topology: Topology,
    clock: Arc<dyn Clock>,
    faults: Arc<dyn Faults>,
    state: Mutex<State>,
    /// How many of each topic's latest messages are kept; `None`: all of them.
    keep: Option<usize>,
}

/// What SNS delivers to a queue subscribed without raw message delivery (the fields in
/// name order, as they were first written from a JSON object).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SnsEnvelope<'a> {
    message: &'a str,
    message_attributes: BTreeMap<&'a str, SnsAttribute<'a>>,
    message_id: &'a str,
    timestamp: String,
    topic_arn: String,
    #[serde(rename = "Type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct SnsAttribute<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "Value")]
    value: &'a str,
}

impl EmbeddedBus {
    pub fn new(topology: Topology, clock: Arc<dyn Clock>) -> EmbeddedBus {
        EmbeddedBus::with_faults(topology, clock, Arc::new(NoFaults))
    }

    pub fn with_faults(topology: Topology, clock: Arc<dyn Clock>, faults: Arc<dyn Faults>) -> EmbeddedBus {
        let mut state = State::default();
        for topic in topology.topics {
            state.topics.insert(topic.name.to_string(), VecDeque::new());
        }
        for spec in topology.queues {
            state.queues.insert(
                spec.name.to_string(),
                QueueState { spec: Some(*spec), messages: VecDeque::new(), dead: Vec::new() },
            );
        }
        let failures = topology.stream.failure_queue.name.to_string();
        state.queues.insert(failures, QueueState { spec: None, messages: VecDeque::new(), dead: Vec::new() });
        EmbeddedBus { topology, clock, faults, state: Mutex::new(state), keep: None }
    }

    /// The bus keeping only the latest `keep` messages of each topic for
    /// [`EmbeddedBus::published`] (`None`: every one, the default). What is dropped is
    /// only the topic's record of it: its copies in the queues are theirs.
    pub fn keeping_published(mut self, keep: Option<usize>) -> EmbeddedBus {
        self.keep = keep;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything published to `topic` (the latest it keeps, [`EmbeddedBus::keeping_published`]),
    /// oldest first; `None` for an unknown topic.
    pub fn published(&self, topic: &str) -> Option<Vec<Published>> {
        self.lock().topics.get(topic).map(|records| records.iter().map(Recorded::published).collect())
    }

    fn enqueue(
        &self,
        state: &mut State,
        queue: &str,
        body: String,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let copies = 1 + self.faults.extra_copies(queue);
        let visible_at = self.clock.now() + Duration::seconds(i64::from(self.faults.delivery_delay_secs(queue)));
        let id = state.fresh_id("msg");
        let q = state.queues.get_mut(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        for _ in 0..copies {
            let (body, attributes) = (body.clone(), attributes.clone());
            q.messages.push_back(Message {
                id: id.clone(),
                body,
                attributes,
                receive_count: 0,
                visible_at,
                receipt: None,
            });
        }
        Ok(())
    }

    /// The copies of `message` (published as `message_id` at `now`) for the queues
    /// subscribed to its topic whose filter policy passes, as SNS delivers them: the
    /// message as sent with raw delivery, else its SNS envelope with no attributes.
    /// Refuses the message, with no copy made, if a copy would be over the size limit.
    /// The durable bus makes the same.
    pub(crate) fn deliveries(
        topology: &Topology,
        message: &OutboundMessage,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, Error> {
        let mut deliveries = Vec::new();
        for sub in topology.subscriptions.iter().filter(|s| s.topic == message.topic) {
            if sub.filter_policy.is_some_and(|p| !filter::matches(p, &message.attributes)) {
                continue;
            }
            let (body, attributes) = if sub.raw_delivery {
                (message.body.clone(), message.attributes.clone())
            } else {
                (Self::sns_envelope(&message.topic, message_id, message, now), BTreeMap::new())
            };
            if let Some(reason) = oversized_message(sub.queue, &body, &attributes) {
                return Err(Error::Publish(format!("{} → {reason}", message.topic)));
            }
            deliveries.push((sub.queue, body, attributes));
        }
        Ok(deliveries)
    }

    /// The SQS body of an SNS delivery without raw message delivery (the durable bus
    /// builds the same).
    pub(crate) fn sns_envelope(topic: &str, id: &str, message: &OutboundMessage, at: DateTime<Utc>) -> String {
        let envelope = SnsEnvelope {
            message: &message.body,
            message_attributes: message
                .attributes
                .iter()
                .map(|(name, value)| (name.as_str(), SnsAttribute { kind: "String", value }))
                .collect(),
            message_id: id,
            timestamp: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            topic_arn: format!("arn:aws:sns:local:000000000000:{topic}"),
            kind: "Notification",
        };
        // Strings only: serialising cannot fail.
        serde_json::to_string(&envelope).unwrap_or_default()
    }
}

#[async_trait]
impl Publisher for EmbeddedBus {
    /// Refuses, with nothing recorded or queued, a message over the size limit or one
    /// whose copy for a subscribed queue (an SNS envelope, without raw delivery) would be.
    async fn publish(&self, message: &OutboundMessage) -> Result<(), Error> {
        if let Some(reason) = oversized_message(&message.topic, &message.body, &message.attributes) {
            return Err(Error::Publish(reason));
        }
        let now = self.clock.now();
        let mut state = self.lock();
        if !state.topics.contains_key(&message.topic) {
            return Err(Error::Publish(format!("unknown topic {}", message.topic)));
        }
        self.faults.before_publish(&message.topic)?;
        let message_id = state.fresh_id("pub");
        let deliveries = Self::deliveries(&self.topology, message, &message_id, now)?;
        let record = Recorded {
            message_id: message_id.clone(),
            body: message.body.clone(),
            attributes: message.attributes.clone(),
            published_at: now,
        };
        let log = state.topics.entry(message.topic.clone()).or_default();
        log.push_back(record);
        if let Some(keep) = self.keep {
            while log.len() > keep {
                log.pop_front();
            }
        }
        for (queue, body, attributes) in deliveries {
            self.enqueue(&mut state, queue, body, attributes)?;
        }
        drop(state);
        self.faults.after_publish(&message.topic)
    }
}

#[async_trait]
impl QueueSender for EmbeddedBus {
    async fn send(&self, queue: &str, body: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error> {
        if let Some(reason) = oversized_message(queue, body, attributes) {
            return Err(Error::Queue(reason));
        }
        self.faults.before_publish(queue)?;
        let mut state = self.lock();
        self.enqueue(&mut state, queue, body.to_string(), attributes.clone())?;
        drop(state);
        self.faults.after_publish(queue)
    }
}

#[async_trait]
impl Broker for EmbeddedBus {
    async fn receive(&self, queue: &str, max: usize) -> Result<Vec<ReceivedMessage>, Error> {
        let now = self.clock.now();
        let mut state = self.lock();
        let mut receipts = Vec::new();
        let q = state.queues.get_mut(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        // SQS's default visibility timeout for a queue no mapping reads.
        let visibility = q.spec.map_or(30, |s| s.visibility_timeout_secs);
        let hide_until = now + Duration::seconds(i64::from(visibility));
        let mut out = Vec::new();
        let mut i = 0;
        while i < q.messages.len() && out.len() < max {
            if q.messages[i].visible_at > now {
                i += 1;
                continue;
            }
            if q.spec.is_some_and(|s| q.messages[i].receive_count >= s.max_receive_count) {
                match q.messages.remove(i) {
                    Some(dead) => q.dead.push(dead),
                    None => break,
                }
                continue;
            }
            let m = &mut q.messages[i];
            m.receive_count += 1;
            m.visible_at = hide_until;
            receipts.push(i);
            out.push(m.clone());
            i += 1;
        }
        let mut received = Vec::with_capacity(out.len());
        for (m, i) in out.into_iter().zip(receipts) {
            let receipt = state.fresh_id("rcpt");
            if let Some(q) = state.queues.get_mut(queue) {
                q.messages[i].receipt = Some(receipt.clone());
            }
            received.push(ReceivedMessage {
                message_id: m.id,
                receipt,
                body: m.body,
                attributes: m.attributes,
                receive_count: m.receive_count,
            });
        }
        Ok(received)
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), Error> {
        let mut state = self.lock();
        let q = state.queues.get_mut(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        // Received messages are near the front: found in a few steps, not a scan.
        if let Some(i) = q.messages.iter().position(|m| m.receipt.as_deref() == Some(receipt)) {
            q.messages.remove(i);
        }
        Ok(())
    }

    async fn release(&self, queue: &str, receipt: &str, seconds: u32) -> Result<(), Error> {
        let visible_at = self.clock.now() + Duration::seconds(i64::from(seconds));
        let mut state = self.lock();
        let q = state.queues.get_mut(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        if let Some(m) = q.messages.iter_mut().find(|m| m.receipt.as_deref() == Some(receipt)) {
            m.visible_at = visible_at;
        }
        Ok(())
    }

    async fn pending(&self, queue: &str) -> Result<bool, Error> {
        let state = self.lock();
        let q = state.queues.get(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        Ok(!q.messages.is_empty())
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, Error> {
        let now = self.clock.now();
        let state = self.lock();
        let q = state.queues.get(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        let visible = q.messages.iter().filter(|m| m.visible_at <= now).count();
        Ok(QueueStats {
            name: queue.to_string(),
            visible,
            in_flight: q.messages.len() - visible,
            dead_letters: q.dead.len(),
        })
    }

    async fn redrive(&self, queue: &str, max: usize) -> Result<Vec<String>, Error> {
        let now = self.clock.now();
        let mut state = self.lock();
        let q = state.queues.get_mut(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        let moved: Vec<Message> = q.dead.drain(..q.dead.len().min(max)).collect();
        let ids = moved.iter().map(|m| m.id.clone()).collect();
        for m in moved {
            q.messages.push_back(Message { receive_count: 0, visible_at: now, receipt: None, ..m });
        }
        Ok(ids)
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<ReceivedMessage>, Error> {
        let state = self.lock();
        let q = state.queues.get(queue).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))?;
        Ok(q.dead
            .iter()
            .map(|m| ReceivedMessage {
                message_id: m.id.clone(),
                receipt: String::new(),
                body: m.body.clone(),
                attributes: m.attributes.clone(),
                receive_count: m.receive_count,
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "bus_tests.rs"]
mod tests;
