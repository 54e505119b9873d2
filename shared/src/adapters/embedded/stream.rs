//! The embedded store's change feed as DynamoDB Streams would hand it to Lambda: each
//! [`Change`] becomes a stream record with `Keys`, `OldImage` and `NewImage` in the
//! table's item layout (`aws::dynamodb`), so the outbox relay reads the same event on
//! both backends.

use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord, StreamViewType};
use serde_dynamo::AttributeValue;
use serde_json::{json, Value};

use super::store::Change;
use crate::ports::layout::{BODY, OUTBOX, PK, SK, TTL, VERSION};
use crate::ports::Item;

/// The stream ARN the records name (the local runtime has no account or region).
pub const LOCAL_STREAM_ARN: &str = "arn:aws:dynamodb:local:000000000000:table/orderflow/stream/local";

/// An item's attributes as a stream image holds them (`{"pk": {"S": "…"}, …}` in JSON).
pub fn image(item: &Item) -> serde_dynamo::Item {
    let mut attrs = std::collections::HashMap::with_capacity(6 + 2 * item.index_keys.len());
    let s = |v: &str| AttributeValue::S(v.to_string());
    attrs.insert(PK.to_string(), s(&item.key.pk));
    attrs.insert(SK.to_string(), s(&item.key.sk));
    attrs.insert(VERSION.to_string(), AttributeValue::N(item.version.to_string()));
    attrs.insert(BODY.to_string(), s(&item.body));
    for (index, key) in &item.index_keys {
        let (ipk, isk) = index.key_attributes();
        attrs.insert(ipk, s(&key.pk));
        attrs.insert(isk, s(&key.sk));
    }
    if let Some(at) = item.expires_at {
        attrs.insert(TTL.to_string(), AttributeValue::N(at.to_string()));
    }
    if let Some(outbox) = item.outbox_bytes() {
        attrs.insert(OUTBOX.to_string(), AttributeValue::B(outbox.to_vec()));
    }
    attrs.into()
}

/// One change as a record of a Lambda DynamoDB stream event, built as the typed
/// record the relay reads (the local runtime hands it over without a JSON round trip).
pub fn event_record(change: &Change) -> EventRecord {
    let event_name = match (&change.old, &change.new) {
        (None, _) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        (Some(_), None) => "REMOVE",
    };
    let mut keys = std::collections::HashMap::with_capacity(2);
    keys.insert(PK.to_string(), AttributeValue::S(change.key.pk.clone()));
    keys.insert(SK.to_string(), AttributeValue::S(change.key.sk.clone()));
    let mut stream = StreamRecord::default();
    stream.keys = keys.into();
    stream.sequence_number = Some(format!("{:021}", change.sequence));
    stream.stream_view_type = Some(StreamViewType::NewAndOldImages);
    // Each image's outbox is encoded once per item ([`Item::outbox_bytes`]).
    let size = change.new.as_ref().or(change.old.as_ref()).map_or(0, |i| i.stored_size(i.version));
    stream.size_bytes = i64::try_from(size).unwrap_or(i64::MAX);
    if let Some(old) = &change.old {
        stream.old_image = image(old);
    }
    if let Some(new) = &change.new {
        stream.new_image = image(new);
    }
    let mut record = EventRecord::default();
    record.event_id = format!("local-{}", change.sequence);
    record.event_name = event_name.to_string();
    record.event_version = Some("1.1".to_string());
    record.event_source = Some("aws:dynamodb".to_string());
    record.aws_region = "local".to_string();
    record.event_source_arn = Some(LOCAL_STREAM_ARN.to_string());
    record.change = stream;
    record
}

/// One change as a record of a Lambda DynamoDB stream event, in its JSON shape.
pub fn lambda_record(change: &Change) -> Value {
    serde_json::to_value(event_record(change)).unwrap_or(Value::Null)
}

/// A batch of changes as the event Lambda would hand the relay.
pub fn lambda_event(changes: &[Change]) -> Value {
    json!({ "Records": changes.iter().map(lambda_record).collect::<Vec<_>>() })
}
