//! The embedded store's change feed as DynamoDB Streams would hand it to Lambda: each
//! [`Change`] becomes a stream record with `Keys`, `OldImage` and `NewImage` in the
//! table's item layout (`aws::dynamodb`), so the outbox relay reads the same event on
//! both backends.

use serde_json::{json, Map, Value};

use super::store::Change;
use crate::ports::layout::{BODY, OUTBOX, PK, SK, TTL, VERSION};
use crate::ports::Item;

/// The stream ARN the records name (the local runtime has no account or region).
pub const LOCAL_STREAM_ARN: &str = "arn:aws:dynamodb:local:000000000000:table/orderflow/stream/local";

/// An item's attributes in DynamoDB's JSON (`{"pk": {"S": "…"}, …}`).
pub fn image(item: &Item) -> Value {
    image_with(item, item.outbox_bytes())
}

/// [`image`], with the outbox as already encoded.
fn image_with(item: &Item, outbox: Option<Vec<u8>>) -> Value {
    let mut attrs = Map::new();
    let s = |v: &str| json!({ "S": v });
    attrs.insert(PK.into(), s(&item.key.pk));
    attrs.insert(SK.into(), s(&item.key.sk));
    attrs.insert(VERSION.into(), json!({ "N": item.version.to_string() }));
    attrs.insert(BODY.into(), s(&item.body));
    for (index, key) in &item.index_keys {
        let (ipk, isk) = index.key_attributes();
        attrs.insert(ipk, s(&key.pk));
        attrs.insert(isk, s(&key.sk));
    }
    if let Some(at) = item.expires_at {
        attrs.insert(TTL.into(), json!({ "N": at.to_string() }));
    }
    if let Some(outbox) = outbox {
        // DynamoDB JSON carries binary values in base64, as serde_dynamo writes them.
        let binary = serde_json::to_value(serde_dynamo::AttributeValue::B(outbox)).unwrap_or(Value::Null);
        attrs.insert(OUTBOX.into(), binary);
    }
    Value::Object(attrs)
}

/// One change as a record of a Lambda DynamoDB stream event.
pub fn lambda_record(change: &Change) -> Value {
    let event_name = match (&change.old, &change.new) {
        (None, _) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        (Some(_), None) => "REMOVE",
    };
    let mut record = json!({
        "Keys": {PK: {"S": change.key.pk}, SK: {"S": change.key.sk}},
        "SequenceNumber": format!("{:021}", change.sequence),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    // Each image's outbox is encoded once, for the image and for the record's size.
    let old = change.old.as_ref().map(|i| (i, i.outbox_bytes()));
    let new = change.new.as_ref().map(|i| (i, i.outbox_bytes()));
    let size = new.as_ref().or(old.as_ref()).map_or(0, |(i, outbox)| i.stored_size_with(i.version, outbox.as_deref()));
    record["SizeBytes"] = json!(size);
    if let Some((old, outbox)) = old {
        record["OldImage"] = image_with(old, outbox);
    }
    if let Some((new, outbox)) = new {
        record["NewImage"] = image_with(new, outbox);
    }
    json!({
        "eventID": format!("local-{}", change.sequence),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "local",
        "eventSourceARN": LOCAL_STREAM_ARN,
        "dynamodb": record,
    })
}

/// A batch of changes as the event Lambda would hand the relay.
pub fn lambda_event(changes: &[Change]) -> Value {
    json!({ "Records": changes.iter().map(lambda_record).collect::<Vec<_>>() })
}
