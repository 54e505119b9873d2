//! Topics and queues on SQLite, with the in-memory bus's semantics
//! ([`crate::adapters::embedded::EmbeddedBus`]): a publish is recorded on its topic and
//! copied to every subscribed queue whose filter policy passes, in one transaction;
//! queues deliver at least once, hide a received message for their visibility timeout
//! and redrive it to the dead-letter queue once received maxReceiveCount times. A
//! message received and not deleted before a crash comes back after its visibility
//! timeout, as it would on SQS.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use serde_json::json;
use tracing::warn;

use super::codec::{self, attributes_from, attributes_json};
use super::Shared;
use crate::adapters::embedded::{EmbeddedBus, Faults, Published, PublishedLog};
use crate::error::Error;
use crate::ports::{oversized_message, Clock, OutboundMessage, Publisher, QueueSender, ReceivedMessage, Via};
use crate::topology::{Queue, Topology};

pub struct DurableBus {
    pub(super) shared: Arc<Shared>,
    topology: Topology,
    pub(super) clock: Arc<dyn Clock>,
    faults: Arc<dyn Faults>,
    /// The queues of the topology by name; `None` for the outbox relay's failure queue,
    /// which no function consumes: it keeps what it is sent, with no redrive.
    queues: BTreeMap<&'static str, Option<Queue>>,
    /// How many of each topic's latest messages are kept; `None`: all of them.
    keep: Option<usize>,
    /// Messages published since the topics were last trimmed to `keep`.
    untrimmed: AtomicUsize,
}

/// How many publishes a bus that keeps only the latest messages of each topic lets pass
/// between deleting the older ones: one delete per topic, in one transaction, every so
/// often, instead of one in every publish's transaction.
pub const TRIM_EVERY: usize = 1000;

/// The columns of a queued message as read.
pub(super) type MessageRow = (String, String, String, i64);

impl DurableBus {
    pub(super) fn new(
        shared: Arc<Shared>,
        topology: Topology,
        clock: Arc<dyn Clock>,
        faults: Arc<dyn Faults>,
        keep: Option<usize>,
    ) -> DurableBus {
        let mut queues: BTreeMap<_, _> = topology.queues.iter().map(|q| (q.name, Some(*q))).collect();
        queues.insert(topology.stream.failure_queue.name, None);
        DurableBus { shared, topology, clock, faults, queues, keep, untrimmed: AtomicUsize::new(0) }
    }

    /// Once [`TRIM_EVERY`] messages have been published since the last time, deletes
    /// every topic's messages older than the latest `keep`. A failure is logged and
    /// left for the next time: the publishes it follows are committed.
    fn trim_published(&self, published: usize) {
        let Some(keep) = self.keep else { return };
        if self.untrimmed.fetch_add(published, Ordering::Relaxed).saturating_add(published) < TRIM_EVERY {
            return;
        }
        self.untrimmed.store(0, Ordering::Relaxed);
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let mut conn = self.shared.conn();
        let trimmed = conn.transaction_with_behavior(TransactionBehavior::Immediate).and_then(|tx| {
            for topic in self.topology.topics {
                tx.prepare_cached(
                    "DELETE FROM published WHERE topic = ?1 AND seq <= (
                         SELECT seq FROM published WHERE topic = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                )?
                .execute(params![topic.name, keep])?;
            }
            tx.commit()
        });
        if let Err(e) = trimmed {
            warn!(error = %self.shared.failed(&e), "trimming the topics' published messages failed; tried again later");
        }
    }

    pub(super) fn spec(&self, queue: &str) -> Result<Option<Queue>, Error> {
        self.queues.get(queue).copied().ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))
    }

    pub(super) fn queue_error(&self, queue: &str, e: &rusqlite::Error) -> Error {
        Error::Queue(format!("{queue}: {}", self.shared.failed(e)))
    }

    /// Queues `body` on `queue` (with the copies and delay the faults inject), in the
    /// caller's transaction.
    fn enqueue(
        &self,
        conn: &Connection,
        queue: &str,
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.spec(queue)?;
        let copies = 1 + self.faults.extra_copies(queue);
        let delay = Duration::seconds(i64::from(self.faults.delivery_delay_secs(queue)));
        let visible_at = self.at(self.clock.now(), delay).map_err(Error::Queue)?;
        let attributes = attributes_json(attributes).map_err(Error::Queue)?;
        let failed = |e| self.queue_error(queue, &e);
        let id = self.shared.fresh_id("msg");
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO messages (queue, message_id, body, attributes, receive_count, visible_at, receipt)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, NULL)",
            )
            .map_err(failed)?;
        for _ in 0..copies {
            insert.execute(params![queue, id, body, attributes, visible_at]).map_err(failed)?;
        }
        Ok(())
    }

    /// `now + by` as the database keeps times.
    pub(super) fn at(&self, now: DateTime<Utc>, by: Duration) -> Result<i64, String> {
        let at = now.checked_add_signed(by).ok_or_else(|| format!("{now} + {by} is past the end of time"))?;
        codec::nanos(at)
    }

    /// A failure reading the row `seq` of `table`: a value of the wrong type is a
    /// corrupt row, anything else the database's failure.
    pub(super) fn row_error(&self, queue: &str, table: &str, seq: i64, e: rusqlite::Error) -> Error {
        if codec::is_corrupt(&e) {
            Error::Queue(format!("{queue}: {table} row {seq} is corrupt: {e}"))
        } else {
            self.queue_error(queue, &e)
        }
    }

    /// A row of `table` as a received message (a dead letter has no receipt).
    pub(super) fn received(
        queue: &str,
        table: &str,
        seq: i64,
        row: MessageRow,
        receipt: String,
    ) -> Result<ReceivedMessage, Error> {
        let (message_id, body, attributes, receive_count) = row;
        let corrupt = |what: String| Error::Queue(format!("{queue}: {table} row {seq} is corrupt: {what}"));
        Ok(ReceivedMessage {
            message_id,
            receipt,
            body,
            attributes: attributes_from(&attributes).map_err(corrupt)?,
            receive_count: u32::try_from(receive_count)
                .map_err(|_| corrupt(format!("receive count {receive_count}")))?,
        })
    }
}

impl DurableBus {
    /// Why `message` cannot be published at all, if it cannot: over the size limit, or
    /// to a topic there is not.
    fn refused(&self, message: &OutboundMessage) -> Option<Error> {
        if let Some(reason) = oversized_message(&message.topic, &message.body, &message.attributes) {
            return Some(Error::Publish(reason));
        }
        if !self.topology.topics.iter().any(|t| t.name == message.topic) {
            return Some(Error::Publish(format!("unknown topic {}", message.topic)));
        }
        None
    }

    /// Records `message` on its topic and queues its copies, in `tx`; refuses one whose
    /// copy for a subscribed queue (an SNS envelope, without raw delivery) would be
    /// over the size limit.
    fn publish_in(&self, tx: &Transaction<'_>, message: &OutboundMessage, now: DateTime<Utc>) -> Result<(), Error> {
        let failed = |e: rusqlite::Error| Error::Publish(format!("{}: {}", message.topic, self.shared.failed(&e)));
        let message_id = self.shared.fresh_id("pub");
        let deliveries = EmbeddedBus::deliveries(&self.topology, message, &message_id, now)?;
        // The body as it is where it is JSON (checked, not parsed into a value and
        // written out again), else the JSON string of it: read back as JSON either way.
        let is_json = serde_json::from_str::<serde::de::IgnoredAny>(&message.body).is_ok();
        let stored = if is_json {
            std::borrow::Cow::Borrowed(message.body.as_str())
        } else {
            json!(message.body).to_string().into()
        };
        let attributes = attributes_json(&message.attributes).map_err(Error::Publish)?;
        let at = codec::nanos(now).map_err(Error::Publish)?;
        tx.prepare_cached(
            "INSERT INTO published (topic, message_id, message, attributes, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut insert| insert.execute(params![message.topic, message_id, stored, attributes, at]))
        .map_err(failed)?;
        for (queue, body, attributes) in deliveries {
            self.enqueue(tx, queue, &body, &attributes)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Publisher for DurableBus {
    /// Refuses, with nothing recorded or queued, a message over the size limit or one
    /// whose copy for a subscribed queue (an SNS envelope, without raw delivery) would be.
    async fn publish(&self, message: &OutboundMessage) -> Result<(), Error> {
        self.publish_batch(std::slice::from_ref(message)).await
    }

    /// The whole batch in one transaction: all of it is recorded and queued, or (a
    /// refused message, a failure) none of it.
    async fn publish_batch(&self, messages: &[OutboundMessage]) -> Result<(), Error> {
        let Some(first) = messages.first() else { return Ok(()) };
        if let Some(refused) = messages.iter().find_map(|m| self.refused(m)) {
            return Err(refused);
        }
        for message in messages {
            self.faults.before_publish(&message.topic)?;
        }
        let now = self.clock.now();
        let failed = |e: rusqlite::Error| Error::Publish(format!("{}: {}", first.topic, self.shared.failed(&e)));
        let mut conn = self.shared.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        for message in messages {
            self.publish_in(&tx, message, now)?;
        }
        tx.commit().map_err(failed)?;
        drop(conn);
        self.trim_published(messages.len());
        for message in messages {
            self.faults.after_publish(&message.topic)?;
        }
        Ok(())
    }

    /// Every message up to the first that goes to a queue, whatever its topic and
    /// however many: one transaction records and queues them all, so the outbox relay
    /// commits a batch of changes' messages once rather than once per ten messages to
    /// one topic (each commit writes every page it changed to the WAL, and the pages of
    /// the published log and of the queues are the same for the whole batch).
    fn batch_len(&self, messages: &[OutboundMessage]) -> usize {
        messages.iter().take_while(|m| m.via == Via::Topic).count()
    }
}

#[async_trait]
impl QueueSender for DurableBus {
    async fn send(&self, queue: &str, body: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error> {
        if let Some(reason) = oversized_message(queue, body, attributes) {
            return Err(Error::Queue(reason));
        }
        self.faults.before_publish(queue)?;
        let mut conn = self.shared.conn();
        let tx =
            conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.queue_error(queue, &e))?;
        self.enqueue(&tx, queue, body, attributes)?;
        tx.commit().map_err(|e| self.queue_error(queue, &e))?;
        drop(conn);
        self.faults.after_publish(queue)
    }
}

impl PublishedLog for DurableBus {
    fn published_on(&self, topic: &str) -> Result<Option<Vec<Published>>, Error> {
        if !self.topology.topics.iter().any(|t| t.name == topic) {
            return Ok(None);
        }
        let failed = |e: rusqlite::Error| Error::Publish(format!("{topic}: {}", self.shared.failed(&e)));
        let conn = self.shared.conn();
        // The latest `keep` (between trims the table holds up to TRIM_EVERY more; SQLite
        // reads a negative limit as none), oldest first.
        let limit = self.keep.map_or(-1, |keep| i64::try_from(keep).unwrap_or(i64::MAX));
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, message_id, message, attributes, published_at FROM (
                     SELECT * FROM published WHERE topic = ?1 ORDER BY seq DESC LIMIT ?2)
                 ORDER BY seq",
            )
            .map_err(failed)?;
        let rows = stmt
            .query_map(params![topic, limit], |r| {
                let columns = || -> rusqlite::Result<(String, String, String, i64)> {
                    Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                };
                Ok((r.get::<_, i64>(0)?, columns()))
            })
            .map_err(failed)?;
        let mut published = Vec::new();
        for row in rows {
            let (seq, columns) = row.map_err(failed)?;
            let corrupt = |what: String| Error::Publish(format!("{topic}: published row {seq} is corrupt: {what}"));
            let (message_id, message, attributes, at) = columns.map_err(|e| corrupt(e.to_string()))?;
            published.push(Published {
                message_id,
                message: serde_json::from_str(&message).map_err(|e| corrupt(e.to_string()))?,
                attributes: attributes_from(&attributes).map_err(corrupt)?,
                published_at: DateTime::from_timestamp_nanos(at),
            });
        }
        Ok(Some(published))
    }
}

#[cfg(test)]
#[path = "bus_tests.rs"]
mod tests;
