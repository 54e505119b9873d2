//! What a flow's recorded requests cost: which of them an order makes on AWS (the rest
//! are the local runtime's own, or fixed costs that do not grow with orders), their
//! billed requests and request units, and the Lambda work they imply.

use std::collections::BTreeMap;

use orderflow_shared::ports::message_size;
use serde::Serialize;

use super::meter::{Consumed, Table};
use super::proxy::{Call, Service};
use crate::cost_prices::MESSAGE_CHUNK_BYTES;

/// Requests left out of the per-order count, and why.
pub const TAP: &str = "local only: the tap queues that record each topic for GET /_local/topics (not deployed)";
pub const SETTLE: &str = "local only: settle counting the queues' messages";
pub const RELEASE: &str = "local only: the pump making a failed message visible at once";
pub const NEXT_DUE: &str = "local only: the manual clock asking each gsi2 shard when work is next due";
pub const EMPTY_POLL: &str = "fixed, not per order: an empty receive (the event source mapping's polling)";
pub const STREAM: &str = "free: the stream event source mapping reading the table's stream for the outbox relay \
     (Lambda does not bill DynamoDB Streams reads of its triggers)";
pub const IDLE_SHARD: &str = "fixed, not per order: a tick's query of a gsi2 shard with nothing due (16 a minute)";

/// Requests of one service and operation that an order makes.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub service: &'static str,
    pub operation: String,
    pub requests: u64,
    /// Requests as billed: SNS and SQS count each 64 KB of payload as one.
    pub billed: u64,
    pub wru: u64,
    #[serde(rename = "rru", serialize_with = "as_units")]
    pub rru_halves: u64,
}

fn as_units<S: serde::Serializer>(halves: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(*halves as f64 / 2.0)
}

#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    pub service: &'static str,
    pub operation: String,
    pub requests: u64,
    pub why: &'static str,
}

/// A flow's requests, counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub lines: Vec<Line>,
    pub excluded: Vec<Excluded>,
    /// Batches the event source mappings would hand to a function (non-empty receives,
    /// and stream reads with records).
    pub queue_invocations: u64,
    /// AWS requests the functions make themselves (not the event source mappings').
    pub function_calls: u64,
    /// Bytes the table keeps for good once the flow is over.
    pub kept_bytes: u64,
    /// Of the write units, what each index's entries took (in `Index::ALL` order).
    pub index_wru: super::meter::IndexUnits,
}

impl Tally {
    pub fn count(calls: &[Call]) -> Tally {
        let mut table = Table::default();
        let mut lines: BTreeMap<(Service, String), Line> = BTreeMap::new();
        let mut excluded: BTreeMap<(Service, String, &'static str), u64> = BTreeMap::new();
        let mut tally = Tally::default();
        for call in calls {
            // Every request goes through the meter, so the table stays as AWS would have it.
            let consumed = table.apply(call);
            // Each committed write is a stream batch of its own here (one order at a
            // time), and so one invocation of the outbox relay.
            tally.queue_invocations += u64::from(committed_write(call));
            if let Some(why) = excluded_because(call) {
                *excluded.entry((call.service, call.operation.clone(), why)).or_default() += 1;
                continue;
            }
            let line = lines.entry((call.service, call.operation.clone())).or_insert_with(|| Line {
                service: call.service.name(),
                operation: call.operation.clone(),
                requests: 0,
                billed: 0,
                wru: 0,
                rru_halves: 0,
            });
            add(line, call, consumed);
            for (sum, units) in tally.index_wru.iter_mut().zip(consumed.index_wru) {
                *sum += units;
            }
            tally.queue_invocations += u64::from(call.operation == "ReceiveMessage");
            tally.function_calls += u64::from(made_by_a_function(call));
        }
        tally.lines = lines.into_values().collect();
        tally.excluded = excluded
            .into_iter()
            .map(|((service, operation, why), requests)| Excluded { service: service.name(), operation, requests, why })
            .collect();
        tally.kept_bytes = table.kept_bytes();
        tally
    }

    pub fn wru(&self) -> u64 {
        self.lines.iter().map(|l| l.wru).sum()
    }

    pub fn rru_halves(&self) -> u64 {
        self.lines.iter().map(|l| l.rru_halves).sum()
    }

    /// Billed requests of `service`.
    pub fn billed(&self, service: Service) -> u64 {
        self.lines.iter().filter(|l| l.service == service.name()).map(|l| l.billed).sum()
    }
}

fn add(line: &mut Line, call: &Call, consumed: Consumed) {
    line.requests += 1;
    line.billed += chunks(call);
    line.wru += consumed.wru;
    line.rru_halves += consumed.rru_halves;
}

fn excluded_because(call: &Call) -> Option<&'static str> {
    let r = &call.request;
    let op = call.operation.as_str();
    match call.service {
        Service::Sqs if call.field("QueueUrl").is_some_and(|url| url.contains("tap-")) => Some(TAP),
        Service::Sqs if op == "GetQueueAttributes" => Some(SETTLE),
        Service::Sqs if op == "ChangeMessageVisibility" => Some(RELEASE),
        Service::Sqs if op == "ReceiveMessage" && received(call) == 0 => Some(EMPTY_POLL),
        Service::DynamoDb if STREAM_OPERATIONS.contains(&op) => Some(STREAM),
        Service::DynamoDb if op == "Query" && call.field("IndexName") == Some("gsi2") => {
            if r["Limit"].as_u64() == Some(1) {
                Some(NEXT_DUE)
            } else if call.response["Count"].as_u64() == Some(0) {
                Some(IDLE_SHARD)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The DynamoDB Streams API's operations (the poller's, not a function's).
const STREAM_OPERATIONS: [&str; 4] = ["DescribeStream", "GetShardIterator", "GetRecords", "ListStreams"];

fn committed_write(call: &Call) -> bool {
    let writes = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"];
    call.service == Service::DynamoDb && call.ok && writes.contains(&call.operation.as_str())
}

fn received(call: &Call) -> usize {
    call.response["Messages"].as_array().map_or(0, Vec::len)
}

/// Receives and deletes are the event source mapping's; the middle office publishes the
/// audit results. Everything else is a function's own call.
fn made_by_a_function(call: &Call) -> bool {
    match call.service {
        Service::Sqs => call.operation == "SendMessage",
        Service::Sns => !call.field("TopicArn").is_some_and(|arn| arn.ends_with("audit-results")),
        Service::DynamoDb => true,
        Service::Other => false,
    }
}

/// Billed requests: one per 64 KB (started) of an SNS or SQS payload, body and
/// attributes as [`message_size`] counts them; one for anything else.
fn chunks(call: &Call) -> u64 {
    let size = match (call.service, call.operation.as_str()) {
        // A batch's payload is all its entries' together.
        (Service::Sns, "Publish" | "PublishBatch") => {
            let payload = call.request.as_object().into_iter().flatten().filter(|(k, _)| {
                let field = match k.strip_prefix("PublishBatchRequestEntries.member.") {
                    Some(entry) => entry.split_once('.').map_or("", |(_, field)| field),
                    None => k.as_str(),
                };
                field == "Message"
                    || (field.starts_with("MessageAttributes.entry.")
                        && (field.ends_with(".Name")
                            || field.ends_with(".DataType")
                            || field.ends_with(".StringValue")))
            });
            payload.filter_map(|(_, v)| v.as_str()).map(str::len).sum()
        }
        (Service::Sqs, "SendMessage") => {
            let attributes = call.request["MessageAttributes"].as_object().into_iter().flatten();
            let attributes = attributes.map(|(k, v)| (k.clone(), v["StringValue"].as_str().unwrap_or("").to_string()));
            message_size(call.field("MessageBody").unwrap_or(""), &attributes.collect())
        }
        _ => 0,
    };
    size.div_ceil(MESSAGE_CHUNK_BYTES).max(1) as u64
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn call(service: Service, operation: &str, request: Value, response: Value) -> Call {
        Call { service, operation: operation.into(), ok: true, request, response }
    }

    #[test]
    fn local_and_fixed_requests_are_left_out_with_their_reason() {
        let calls = [
            call(Service::Sqs, "ReceiveMessage", json!({"QueueUrl": "http://x/1/p-tap-order-events"}), json!({})),
            call(Service::Sqs, "ReceiveMessage", json!({"QueueUrl": "http://x/1/p-audit-results-queue"}), json!({})),
            call(Service::Sqs, "ReceiveMessage", json!({"QueueUrl": "q"}), json!({"Messages": [{"Body": "{}"}]})),
            call(Service::DynamoDb, "Query", json!({"IndexName": "gsi2", "Limit": 1}), json!({"Count": 0})),
            call(Service::DynamoDb, "Query", json!({"IndexName": "gsi2", "Limit": 100}), json!({"Count": 0})),
            call(Service::DynamoDb, "Query", json!({"IndexName": "gsi1", "Limit": 1}), json!({"Count": 0})),
        ];
        let tally = Tally::count(&calls);
        let why: Vec<_> = tally.excluded.iter().map(|e| e.why).collect();
        assert_eq!(why, [IDLE_SHARD, NEXT_DUE, EMPTY_POLL, TAP]);
        assert_eq!(tally.lines.iter().map(|l| l.requests).sum::<u64>(), 2);
        assert_eq!((tally.queue_invocations, tally.rru_halves()), (1, 1));
    }

    #[test]
    fn a_message_is_billed_per_64_kb_started() {
        let body = "x".repeat(64 * 1024 - 4 - 6 - 16);
        let attributes = json!({"type": {"DataType": "String", "StringValue": "order.dispatched"}});
        let fits =
            call(Service::Sqs, "SendMessage", json!({"MessageBody": body, "MessageAttributes": attributes}), json!({}));
        assert_eq!(chunks(&fits), 1);
        let over = json!({"Message": format!("{body}xy"), "MessageAttributes.entry.1.Name": "type",
                          "MessageAttributes.entry.1.Value.DataType": "String",
                          "MessageAttributes.entry.1.Value.StringValue": "order.dispatched"});
        assert_eq!(chunks(&call(Service::Sns, "Publish", over, Value::Null)), 2);
    }

    #[test]
    fn a_batch_is_billed_by_its_entries_payload_together() {
        let entry = |n: usize, body: &str| {
            let at = format!("PublishBatchRequestEntries.member.{n}");
            [
                (format!("{at}.Id"), format!("m{n}")),
                (format!("{at}.Message"), body.to_string()),
                (format!("{at}.MessageAttributes.entry.1.Name"), "type".into()),
                (format!("{at}.MessageAttributes.entry.1.Value.DataType"), "String".into()),
                (format!("{at}.MessageAttributes.entry.1.Value.StringValue"), "order.dispatched".into()),
            ]
        };
        let batch = |bodies: &[&str]| {
            let fields = bodies.iter().enumerate().flat_map(|(i, b)| entry(i + 1, b)).map(|(k, v)| (k, json!(v)));
            call(Service::Sns, "PublishBatch", Value::Object(fields.collect()), Value::Null)
        };
        // Ten small messages: one billed publish instead of ten.
        assert_eq!(chunks(&batch(&["{}"; 10])), 1);
        // Two of just over 32 KB with their attributes: past one chunk together.
        let half = "x".repeat(32 * 1024);
        assert_eq!(chunks(&batch(&[half.as_str(), half.as_str()])), 2);
    }
}
