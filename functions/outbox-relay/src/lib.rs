//! Outbox relay: publishes the messages each committed transition wrote into its item's
//! outbox, from the table's change stream (DynamoDB Streams, `NEW_AND_OLD_IMAGES`, on
//! AWS; the embedded store's change feed locally). For each record, in stream order,
//! it sends what the new image's `outbox` carries and the old one's did not
//! ([`orderflow_shared::messages::relay`]), with the ids the transition gave them.
//!
//! - A record whose messages cannot be sent (a topic or queue failing) is reported as
//!   the batch's first failure, and the records after it are not sent now: the event
//!   source mapping retries from that record on (bisecting the batch), so an item's
//!   messages never overtake each other. After its last retry the mapping sends the
//!   record's position to the failure queue (its on-failure destination).
//! - A record that cannot be read (an outbox that is not a list of messages, a message
//!   without an id) can never be sent, however often it is retried: it goes to the
//!   failure queue at once with its reason and keys, and the records after it are
//!   relayed as usual.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::metrics;
use orderflow_shared::error::Result;
use orderflow_shared::messages::relay::{new_messages, read_outbox};
use orderflow_shared::ports::layout::{OUTBOX, PK, SK};
use orderflow_shared::ports::OutboundMessage;
use orderflow_shared::topology::{OUTBOX_RELAY, TOPOLOGY};
use serde_dynamo::AttributeValue;
use serde_json::json;
use tracing::{info, warn};

/// The queue unreadable records go to (the stream mapping's failure queue).
pub const FAILURE_QUEUE: &str = TOPOLOGY.stream.failure_queue.name;
/// The variable that holds its URL on AWS.
pub const FAILURE_QUEUE_ENV: &str = TOPOLOGY.stream.failure_queue.env;
/// The `type` attribute of a message on the failure queue about an unreadable record.
pub const UNREADABLE: &str = "outbox.unreadable";

/// Relays a batch of stream records; reports the first one that could not be sent.
///
/// The records' new messages are sent together, in stream order, consecutive messages
/// to one topic in one request ([`Publisher::batch_len`]): a busy table's batch of
/// changes costs a publish request per ten events rather than one per event (on the
/// durable embedded backend, one transaction for the batch).
pub async fn handle(deps: &Deps, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut pending = Pending::default();
    let mut parked = 0;
    let mut failed_at = None;
    for record in &event.records {
        let position = record.change.sequence_number.clone().unwrap_or_else(|| record.event_id.clone());
        match fresh(record) {
            Ok(messages) => pending.add(position, messages.into_iter()),
            Err(reason) => {
                // What came before it leaves first.
                failed_at = pending.send(deps).await;
                if failed_at.is_some() {
                    break;
                }
                if let Err(e) = park(deps, record, &position, &reason).await {
                    warn!(sequence_number = %position, error = %e, "parking an unreadable record failed");
                    failed_at = Some(position);
                    break;
                }
                parked += 1;
            }
        }
    }
    if failed_at.is_none() {
        failed_at = pending.send(deps).await;
    }
    if let Some(position) = failed_at {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(position);
        response.batch_item_failures.push(failure);
    }
    let (sent, relayed) = (pending.sent, pending.relayed + parked);
    info!(records = event.records.len(), sent, failed = response.batch_item_failures.len(), "batch relayed");
    let failed = response.batch_item_failures.len();
    metrics::published(OUTBOX_RELAY, u64::try_from(sent).unwrap_or(u64::MAX));
    metrics::processed(OUTBOX_RELAY, relayed, failed);
    response
}

/// Readable records' messages not yet sent, in stream order, with the record each
/// came from; and how many messages and records have been sent.
#[derive(Default)]
struct Pending {
    messages: Vec<OutboundMessage>,
    /// Per record: its position and how many of `messages` are its.
    records: Vec<(String, usize)>,
    sent: usize,
    /// Records whose messages all left.
    relayed: usize,
}

impl Pending {
    fn add(&mut self, position: String, messages: impl Iterator<Item = OutboundMessage>) {
        let before = self.messages.len();
        self.messages.extend(messages);
        self.records.push((position, self.messages.len() - before));
    }

    /// Sends every pending message, a batch at a time; returns the first record not
    /// wholly sent (the batch is retried from it). A failed request does not say which
    /// record's message failed, so from there on the records go one at a time (each
    /// record's messages still batched), and the first record that fails is the one
    /// returned: a record is never blamed for a later record's message.
    async fn send(&mut self, deps: &Deps) -> Option<String> {
        let messages = std::mem::take(&mut self.messages);
        let records = std::mem::take(&mut self.records);
        let mut sent = 0;
        let mut batches_failed = false;
        while let Some(rest) = messages.get(sent..).filter(|rest| !rest.is_empty()) {
            let (batch, _) = rest.split_at_checked(deps.publisher.batch_len(rest).max(1)).unwrap_or((rest, &[]));
            if deps.publish_all(batch).await.is_err() {
                batches_failed = true;
                break;
            }
            sent += batch.len();
        }
        let mut start = 0;
        let mut failed = None;
        for (position, len) in records {
            let end = start + len;
            if batches_failed && end > sent {
                let own = messages.get(start.max(sent)..end).unwrap_or_default();
                if let Err(e) = deps.publish_all(own).await {
                    warn!(sequence_number = %position, error = %e, "relaying failed; the record is retried from here");
                    failed = Some(position);
                    break;
                }
                sent = end;
            }
            start = end;
            self.relayed += 1;
        }
        self.sent += sent;
        failed
    }
}

/// What a record's new image's outbox carries and its old image's did not (by id, in
/// the new image's order); why the record cannot be read, if it cannot.
///
/// Most records' old image holds the outbox an earlier record's new image held: the
/// ids of recent new images are kept ([`SeenOutboxes`]), so such an old image is not
/// inflated and parsed again. An old image with the new image's bytes added nothing
/// (the encoding is deterministic).
fn fresh(record: &EventRecord) -> std::result::Result<Vec<OutboundMessage>, String> {
    let new_bytes = outbox_bytes(&record.change.new_image).map_err(|e| format!("new image: {e}"))?;
    let old_bytes = outbox_bytes(&record.change.old_image).map_err(|e| format!("old image: {e}"))?;
    // No outbox in the new image, or the old image's very bytes: nothing was added.
    let Some(new_bytes) = new_bytes.filter(|&new| Some(new) != old_bytes) else { return Ok(Vec::new()) };
    let new = read_outbox(Some(new_bytes)).map_err(|e| format!("new image: {e}"))?;
    let old_ids = match old_bytes {
        None => Vec::new(),
        Some(bytes) => match SeenOutboxes::ids(bytes) {
            Some(ids) => ids,
            None => {
                read_outbox(Some(bytes)).map_err(|e| format!("old image: {e}"))?.into_iter().map(|m| m.id).collect()
            }
        },
    };
    SeenOutboxes::remember(new_bytes, new.iter().map(|m| m.id.clone()).collect());
    Ok(new_messages(old_ids.iter().map(String::as_str), new))
}

/// The message ids of the last new images relayed, by their outbox bytes: kept across
/// invocations while the function stays warm, at most [`SeenOutboxes::CAPACITY`]
/// outboxes (a few KB each), forgotten all at once when full.
struct SeenOutboxes;

static SEEN: std::sync::Mutex<Option<HashMap<Vec<u8>, Vec<String>>>> = std::sync::Mutex::new(None);

impl SeenOutboxes {
    const CAPACITY: usize = 4096;

    fn ids(bytes: &[u8]) -> Option<Vec<String>> {
        let seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.as_ref()?.get(bytes).cloned()
    }

    fn remember(bytes: &[u8], ids: Vec<String>) {
        let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = seen.get_or_insert_with(HashMap::new);
        if seen.len() >= Self::CAPACITY {
            seen.clear();
        }
        seen.insert(bytes.to_vec(), ids);
    }
}

/// An image's `outbox` bytes (absent: no messages).
fn outbox_bytes(image: &serde_dynamo::Item) -> std::result::Result<Option<&[u8]>, String> {
    match image.get(OUTBOX) {
        None => Ok(None),
        Some(AttributeValue::B(bytes)) => Ok(Some(bytes)),
        Some(_) => Err(format!("the {OUTBOX} attribute is not binary")),
    }
}

fn key_part(record: &EventRecord, name: &str) -> String {
    match record.change.keys.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        _ => String::new(),
    }
}

/// Sends an unreadable record's reason and whereabouts to the failure queue.
async fn park(deps: &Deps, record: &EventRecord, position: &str, reason: &str) -> Result<()> {
    let (pk, sk) = (key_part(record, PK), key_part(record, SK));
    warn!(pk = %pk, sk = %sk, sequence_number = %position, reason, "unreadable stream record; sent to the failure queue");
    let body = json!({
        "reason": reason,
        "event_id": record.event_id,
        "event_name": record.event_name,
        "sequence_number": position,
        "event_source_arn": record.event_source_arn,
        "keys": {"pk": pk, "sk": sk},
    });
    let message = OutboundMessage {
        id: format!("unreadable:{}", record.event_id),
        topic: FAILURE_QUEUE.to_string(),
        body: body.to_string(),
        attributes: [("type".to_string(), UNREADABLE.to_string())].into(),
        via: orderflow_shared::ports::Via::Queue,
    };
    deps.publish_all(std::slice::from_ref(&message)).await
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
