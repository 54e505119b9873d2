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

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::metrics;
use orderflow_shared::error::Result;
use orderflow_shared::messages::relay::{read_outbox, relay_change};
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
pub async fn handle(deps: &Deps, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let (mut sent, mut relayed) = (0, 0);
    for record in &event.records {
        let position = record.change.sequence_number.clone().unwrap_or_else(|| record.event_id.clone());
        let result = match read(record) {
            Ok((old, new)) => relay_change(deps, &old, &new).await,
            Err(reason) => park(deps, record, &position, &reason).await.map(|()| 0),
        };
        match result {
            Ok(n) => {
                sent += n;
                relayed += 1;
            }
            Err(e) => {
                warn!(sequence_number = %position, error = %e, "relaying failed; the record is retried from here");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(position);
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    info!(records = event.records.len(), sent, failed = response.batch_item_failures.len(), "batch relayed");
    let failed = response.batch_item_failures.len();
    metrics::published(OUTBOX_RELAY, u64::try_from(sent).unwrap_or(u64::MAX));
    metrics::processed(OUTBOX_RELAY, relayed, failed);
    response
}

/// The old and new outboxes of a record; why it cannot be read, if it cannot.
fn read(record: &EventRecord) -> std::result::Result<(Vec<OutboundMessage>, Vec<OutboundMessage>), String> {
    let old = outbox(&record.change.old_image).map_err(|e| format!("old image: {e}"))?;
    let new = outbox(&record.change.new_image).map_err(|e| format!("new image: {e}"))?;
    Ok((old, new))
}

fn outbox(image: &serde_dynamo::Item) -> std::result::Result<Vec<OutboundMessage>, String> {
    match image.get(OUTBOX) {
        None => Ok(Vec::new()),
        Some(AttributeValue::B(bytes)) => read_outbox(Some(bytes)),
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
