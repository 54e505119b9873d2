//! Every queue consumer, sent mutations of the records it expects (from the `events/`
//! fixtures and the contract) with hostile `type` attributes, in one batch with a valid
//! record about the witness order `w-1`: no panic, the queues settle (each bad record is
//! acknowledged or ends in the dead-letter queue), the witness record is processed, and
//! the clock moved two days later (the schedule acting on what was accepted) still
//! answers.

use std::collections::BTreeMap;
use std::fmt;

use orderflow_shared::ports::{OutboundMessage, Via};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

use crate::engine::{fuzz, Failure};
use crate::hostile::{body, string};
use crate::json::{show, J};
use crate::world::{World, START};

const AUDIT_RESULTS: &str = "audit-results-queue";
const NOTIFICATIONS: &str = "notifications-queue";
const FULFILMENT_ORDERS: &str = "fulfilment-orders-queue";
const FULFILMENT_STATUS: &str = "fulfilment-status-queue";

#[derive(Clone, Debug)]
pub struct Record {
    body: String,
    attributes: BTreeMap<String, String>,
    /// Published to `audit-results` (SNS wraps it in its envelope) rather than sent to
    /// the queue as it is.
    via_topic: bool,
}

#[derive(Clone)]
pub struct Batch {
    queue: &'static str,
    records: Vec<Record>,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}:", self.queue)?;
        for r in &self.records {
            let via = if r.via_topic { "published to audit-results" } else { "sent" };
            write!(f, "\n    {via} attributes {:?} body {}", r.attributes, show(r.body.as_bytes()))?;
        }
        Ok(())
    }
}

/// The `type` attribute: mostly one of `kinds`, else hostile, else absent.
fn attributes(kinds: &'static [&'static str]) -> BoxedStrategy<BTreeMap<String, String>> {
    let text = |j: J| if let J::Str(s) = j { s } else { String::new() };
    let typed = |kind: String| [("type".to_string(), kind)].into();
    prop_oneof![
        12 => select(kinds).prop_map(move |k| typed(k.to_string())),
        2 => string().prop_map(move |j| typed(text(j))),
        1 => Just(BTreeMap::new()),
    ]
    .boxed()
}

fn records(templates: Vec<Value>, kinds: &'static [&'static str], via_topic: bool) -> BoxedStrategy<Record> {
    (body(templates), attributes(kinds))
        .prop_map(move |(body, attributes)| Record {
            body: String::from_utf8_lossy(&body).into_owned(),
            attributes,
            via_topic,
        })
        .boxed()
}

fn batches(queue: &'static str, records: BoxedStrategy<Record>) -> BoxedStrategy<Batch> {
    vec(records, 1..=3).prop_map(move |records| Batch { queue, records }).boxed()
}

async fn deliver(w: &World, queue: &str, record: &Record) -> Result<(), Failure> {
    let sent = if record.via_topic {
        let message = OutboundMessage {
            id: "fuzz".into(),
            topic: "audit-results".into(),
            body: record.body.clone(),
            attributes: record.attributes.clone(),
            via: Via::Topic,
        };
        w.rt.deps.publisher.publish(&message).await
    } else {
        w.rt.broker().send(queue, &record.body, &record.attributes).await
    };
    sent.map_err(|e| Failure::new("the record cannot be delivered", e.to_string()))
}

/// The valid record about the witness, and how to tell it was processed.
fn witness(queue: &str) -> Record {
    let kind = |k: &str| [("type".to_string(), k.to_string())].into();
    let (body, attributes, via_topic) = match queue {
        AUDIT_RESULTS => {
            (json!({"audit_id": "aud-w", "order_id": "w-1", "occurred_at": START}), kind("audit.passed"), true)
        }
        NOTIFICATIONS => (notification("w-1"), kind("notification.requested"), false),
        FULFILMENT_ORDERS => (dispatched("w-new"), kind("order.dispatched"), false),
        _ => (
            json!({"order_id": "w-1", "system": "payment", "node": "payment", "status": "DONE", "occurred_at": START}),
            kind("fulfilment.status"),
            false,
        ),
    };
    Record { body: body.to_string(), attributes, via_topic }
}

async fn witness_processed(w: &World, queue: &str) -> bool {
    match queue {
        // Applied, or recorded as coming after a final outcome (a bad record may have
        // rejected or approved the witness order first): either way its history names it.
        AUDIT_RESULTS => w.get("/orders/w-1").await.1["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|e| e["detail"].as_str().is_some_and(|d| d.contains("aud-w")))),
        NOTIFICATIONS => w.published_with("handler-notifications", "w-1:notification:aud-w").await > 0,
        FULFILMENT_ORDERS => w.published_with("fulfilment-commands", "w-new:fulfilment.trigger").await > 0,
        _ => w.published_with("fulfilment-commands", "w-1:fulfilment.trigger:warehouse").await > 0,
    }
}

async fn run(batch: Batch) -> Result<(), Failure> {
    let w = World::baseline().await?;
    let dead = w.dead_letters().await;
    for record in &batch.records {
        // SNS and SQS refuse a message over 256 KiB, as the embedded bus does: no
        // consumer ever sees one, so a refused record is simply not part of the batch.
        if deliver(&w, batch.queue, record).await.is_err() {
            crate::capture::tally("too large to send");
        }
    }
    deliver(&w, batch.queue, &witness(batch.queue)).await?;
    w.settle().await?;
    let dead = w.dead_letters().await - dead;
    crate::capture::tally(format!("dead-lettered {dead}/{}", batch.records.len()));
    if !witness_processed(&w, batch.queue).await {
        let logs = crate::capture::logs(1500);
        return Err(Failure::new(
            format!("{}: a bad record kept the valid one in its batch from being processed", batch.queue),
            logs,
        ));
    }
    let reply = w.call("POST", "/_local/clock/advance", json!({"seconds": 2 * 86_400}).to_string().as_bytes()).await;
    crate::checks::reply(&format!("{}: then POST /_local/clock/advance", batch.queue), &reply)?;
    w.baseline_readable().await
}

/// A fixture's first record body, with the fixture's order id replaced by `order`.
fn fixture(name: &str, order: &str) -> Value {
    let path = format!("{}/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let body = event["Records"][0]["body"].as_str().unwrap_or_default().replace("o-1001", order);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: the first record's body: {e}"))
}

fn notification(order: &str) -> Value {
    let mut body = fixture("sqs-notification", order);
    body["notification_id"] = json!(format!("{order}:notification:aud-w"));
    body
}

fn dispatched(order: &str) -> Value {
    fixture("sqs-order-dispatched", order)
}

fn audit_rejected(order: &str) -> Value {
    let mut event = dispatched(order);
    event["type"] = json!("order.audit.rejected");
    event["id"] = json!(format!("{order}:order.audit.rejected:aud-9"));
    event["data"] = json!({"order_id": order, "audit_status": "REJECTED", "reason_code": "PRICE_MISMATCH",
                           "reason": "price changed", "final": true});
    event
}

fn audit_failed(order: &str, code: &str) -> Value {
    json!({"audit_id": "aud-1", "order_id": order, "reason_code": code, "reason": "2 units of A-1 short", "occurred_at": START})
}

#[test]
fn audit_results() {
    let kinds = &["audit.failed", "audit.passed"];
    let messages = vec![
        audit_failed("o-1", "STOCK_SHORTAGE"),
        audit_failed("d-1", "PRICE_MISMATCH"),
        json!({"audit_id": "aud-2", "order_id": "o-1", "occurred_at": START}),
    ];
    let envelope = |m: &Value| {
        json!({"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:local:000000000000:audit-results",
               "Message": m.to_string(), "Timestamp": "2026-11-22T10:00:00.000Z",
               "MessageAttributes": {"type": {"Type": "String", "Value": "audit.failed"}}})
    };
    let envelopes = messages.iter().map(envelope).collect();
    let records = prop_oneof![4 => records(messages, kinds, true), 1 => records(envelopes, kinds, false)].boxed();
    fuzz("SQS audit-results-queue", 300, batches(AUDIT_RESULTS, records), run);
}

#[test]
fn notifications() {
    let records = records(vec![notification("o-1")], &["notification.requested"], false);
    fuzz("SQS notifications-queue", 300, batches(NOTIFICATIONS, records), run);
}

#[test]
fn fulfilment_orders() {
    let templates = vec![dispatched("o-new"), dispatched("o-1"), audit_rejected("o-1"), audit_rejected("o-new")];
    let records = records(templates, &["order.dispatched", "order.audit.rejected"], false);
    fuzz("SQS fulfilment-orders-queue", 300, batches(FULFILMENT_ORDERS, records), run);
}

#[test]
fn fulfilment_status() {
    let records = records(vec![fixture("sqs-fulfilment-status", "o-1")], &["fulfilment.status"], false);
    fuzz("SQS fulfilment-status-queue", 300, batches(FULFILMENT_STATUS, records), run);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: each witness record is not processed in the baseline, and is
    /// once delivered, so the check that a bad record did not take it down means
    /// something.
    #[tokio::test]
    async fn each_witness_is_seen_processed_only_once_delivered() {
        for queue in [AUDIT_RESULTS, NOTIFICATIONS, FULFILMENT_ORDERS, FULFILMENT_STATUS] {
            let w = World::baseline().await.expect("baseline");
            assert!(!witness_processed(&w, queue).await, "{queue}: processed before it was sent");
            deliver(&w, queue, &witness(queue)).await.expect("delivered");
            w.settle().await.expect("settled");
            assert!(witness_processed(&w, queue).await, "{queue}: not processed");
            assert_eq!(w.dead_letters().await, 0, "{queue}");
        }
    }
}
