//! Messages leaving the system: CloudEvents 1.0 JSON envelopes with the message
//! attributes subscribers filter on (here, with SNS envelope unwrapping on the way in),
//! and every message a transition sends.
//!
//! - [`order`]: order events several functions build alike (`order.rejected`).
//! - [`placement`]: an order's placement: dispatched, prepayment requested, rejected.
//! - [`audit`]: audit results in, audit events and notification requests out.
//! - [`fulfilment`]: commands to the fulfilment systems and `order.fulfilment.*` events.
//! - [`privacy`]: masking of names, email and phone numbers before they leave the order.
//! - [`relay`]: the outbox relay: what a change added to an item's outbox, published in order.
//!
//! The refund messages stay in the `refund-calculator` crate, beside the `Refund` they
//! are built from.

pub mod audit;
pub mod fulfilment;
pub mod order;
pub mod placement;
pub mod privacy;
pub mod relay;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::ports::{OutboundMessage, Via};
use crate::trace::TRACEPARENT;

/// Builds one outbound message.
pub struct EventBuilder<'a> {
    pub topic: &'a str,
    pub source: &'a str,
    pub time: DateTime<Utc>,
    /// The trace the message belongs to (an order's own, from its placement); `None`
    /// for the trace in scope.
    pub trace: Option<&'a str>,
}

impl EventBuilder<'_> {
    /// `id` must be stable across redelivery: derive it from the business identity of
    /// the transition (e.g. `o-1:order.dispatched:2`), never from a fresh random value.
    ///
    /// Its trace (`trace`, else the one in scope, [`crate::trace::current`]) goes on the message as the
    /// CloudEvents distributed-tracing extension and as a `traceparent` attribute.
    pub fn event(&self, id: String, kind: &str, subject: &str, data: Value) -> OutboundMessage {
        let trace = self.trace.map(str::to_string).or_else(|| crate::trace::current().map(|t| t.to_string()));
        let time = self.time.to_rfc3339_opts(SecondsFormat::Millis, true);
        let body = CloudEvent {
            data: &data,
            datacontenttype: "application/json",
            id: &id,
            source: self.source,
            specversion: "1.0",
            subject,
            time: &time,
            traceparent: trace.as_deref(),
            kind,
        };
        // Strings and a JSON value only: serialising cannot fail.
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut attributes = BTreeMap::new();
        attributes.insert("type".to_string(), kind.to_string());
        if let Some(trace) = trace {
            attributes.insert(TRACEPARENT.to_string(), trace);
        }
        OutboundMessage { id, topic: self.topic.to_string(), body, attributes, via: Via::Topic }
    }
}

/// A message's body: a CloudEvents 1.0 event in structured JSON mode, with the
/// distributed-tracing extension. Its fields are in name order, as they have always
/// been written (from a JSON object, whose keys serialise sorted), so that a message
/// re-built for a redelivered cause has the same bytes as the one first sent.
#[derive(serde::Serialize)]
struct CloudEvent<'a> {
    data: &'a Value,
    datacontenttype: &'a str,
    id: &'a str,
    source: &'a str,
    specversion: &'a str,
    subject: &'a str,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
}

impl OutboundMessage {
    pub fn with_attribute(mut self, name: &str, value: &str) -> Self {
        self.attributes.insert(name.to_string(), value.to_string());
        self
    }

    /// Sends the message straight to a queue instead of a topic.
    pub fn via_queue(mut self, queue: &str) -> Self {
        self.topic = queue.to_string();
        self.via = Via::Queue;
        self
    }

    /// The `type` attribute every published message carries.
    pub fn kind(&self) -> &str {
        self.attributes.get("type").map(String::as_str).unwrap_or("")
    }
}

/// Unwraps an SQS body that carries an SNS notification envelope (subscriptions without
/// raw delivery) into the published message and its attributes; other bodies are
/// returned as they are.
pub fn unwrap_sns(body: &str, attributes: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
    let Ok(Value::Object(envelope)) = serde_json::from_str::<Value>(body) else {
        return (body.to_string(), attributes.clone());
    };
    let is_sns = envelope.get("Type").and_then(Value::as_str) == Some("Notification");
    let Some(message) = envelope.get("Message").and_then(Value::as_str).filter(|_| is_sns) else {
        return (body.to_string(), attributes.clone());
    };
    let mut attrs = attributes.clone();
    if let Some(Value::Object(sns_attrs)) = envelope.get("MessageAttributes") {
        for (name, attr) in sns_attrs {
            if let Some(v) = attr.get("Value").and_then(Value::as_str) {
                attrs.insert(name.clone(), v.to_string());
            }
        }
    }
    (message.to_string(), attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_carries_type_attribute_and_cloudevents_fields() {
        let b =
            EventBuilder { topic: "order-events", source: "orderflow/test", time: DateTime::UNIX_EPOCH, trace: None };
        let m = b.event("o-1:order.dispatched:1".into(), "order.dispatched", "o-1", json!({"x": 1}));
        assert_eq!(m.kind(), "order.dispatched");
        let body: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["subject"], "o-1");
        assert_eq!(body["data"]["x"], 1);
    }

    #[test]
    fn a_body_keeps_the_bytes_it_was_always_written_with() {
        // Bodies were written from a JSON object (keys sorted); a message re-built for
        // a redelivered cause must carry the very bytes first sent.
        let time = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        for trace in [None, Some(trace)] {
            let b = EventBuilder { topic: "order-events", source: "orderflow/test", time, trace };
            let data = json!({"order_id": "o-1", "amount": "12.50", "lines": [{"sku": "a\"b"}]});
            let m = b.event("o-1:order.dispatched:1".into(), "order.dispatched", "o-1", data.clone());
            let mut expected = json!({
                "specversion": "1.0", "id": "o-1:order.dispatched:1", "source": "orderflow/test",
                "type": "order.dispatched", "time": "2023-11-14T22:13:20.000Z", "subject": "o-1",
                "datacontenttype": "application/json", "data": data,
            });
            if let Some(trace) = trace {
                expected["traceparent"] = json!(trace);
                assert_eq!(m.attributes["traceparent"], trace);
            }
            assert_eq!(m.body, expected.to_string());
        }
    }

    #[test]
    fn sns_envelopes_are_unwrapped_with_their_attributes() {
        let body = json!({"Type": "Notification", "Message": "{\"a\":1}",
            "MessageAttributes": {"type": {"Type": "String", "Value": "audit.failed"}}})
        .to_string();
        let (message, attrs) = unwrap_sns(&body, &BTreeMap::new());
        assert_eq!(message, "{\"a\":1}");
        assert_eq!(attrs["type"], "audit.failed");
        let (raw, _) = unwrap_sns("{\"a\":1}", &BTreeMap::new());
        assert_eq!(raw, "{\"a\":1}");
    }
}
