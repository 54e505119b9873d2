//! The relayed outbox: a writer that dies right after its write (its caller told of a
//! failure, nothing retried) still gets every message of the transition published,
//! exactly once per id, by the outbox relay — for an HTTP transition, an SQS-driven one
//! and a scheduled one, on both backends.

use std::sync::{Arc, Mutex};

use orderflow_shared::adapters::embedded::Faults;
use orderflow_shared::ports::{Condition, Item, Key, OutboundMessage, Via, Write};
use orderflow_shared::topology::TOPOLOGY;
use orderflow_shared::StoreError;
use serde_json::json;

use crate::scenario;
use crate::support::{audit_failed, retail_order, Harness};

/// Crashes the writer right after the next write of the order item it is armed for:
/// the write stands, the writer gets an error and goes no further.
#[derive(Default)]
struct CrashAfterWrite {
    armed: Mutex<Option<String>>,
    crashed: Mutex<u32>,
}

impl CrashAfterWrite {
    fn arm(&self, order_id: &str) {
        *self.armed.lock().unwrap() = Some(format!("ORDER#{order_id}"));
    }

    fn crashes(&self) -> u32 {
        *self.crashed.lock().unwrap()
    }
}

impl Faults for CrashAfterWrite {
    fn after_write(&self, write: &Write) -> Result<(), StoreError> {
        let Write::Put { item, .. } = write else { return Ok(()) };
        let mut armed = self.armed.lock().unwrap();
        if item.key.sk != "ORDER" || armed.as_deref() != Some(item.key.pk.as_str()) {
            return Ok(());
        }
        *armed = None;
        *self.crashed.lock().unwrap() += 1;
        Err(StoreError::Backend("injected crash right after the write".into()))
    }
}

/// How many messages of `kind` about `order` are on `topic` (every copy, not ids).
async fn count(h: &Harness, topic: &str, kind: &str, order: &str) -> usize {
    h.about(topic, kind, order).await.len()
}

async fn http_transition(aws: bool) {
    let faults = Arc::new(CrashAfterWrite::default());
    let h = Harness::with_faults(aws, faults.clone()).await;
    faults.arm("o-crash");
    let (status, body) = h.post("/orders", &retail_order("o-crash", "c-crash", "100.00")).await;
    assert_eq!(status, 500, "the writer crashed after its write: {body}");
    assert_eq!(faults.crashes(), 1);
    // Nobody retries the request; the relay sends what the write carried.
    h.settle().await;
    assert_eq!(h.order("o-crash").await["status"], "DISPATCHED");
    assert_eq!(count(&h, "order-events", "order.dispatched", "o-crash").await, 1);
    assert_eq!(count(&h, "audit-requests", "audit.requested", "o-crash").await, 1);
    // And the dispatch it caused went on: fulfilment started.
    assert_eq!(h.order("o-crash").await["fulfilment"]["status"], "IN_PROGRESS");
}

async fn sqs_transition(aws: bool) {
    let faults = Arc::new(CrashAfterWrite::default());
    let h = Harness::with_faults(aws, faults.clone()).await;
    h.dispatched_order("o-sqs").await;
    h.settle().await;
    faults.arm("o-sqs");
    h.audit_result("audit.failed", audit_failed("aud-1", "o-sqs", "STOCK_SHORTAGE", h.now())).await;
    assert_eq!(faults.crashes(), 1);
    assert_eq!(h.order("o-sqs").await["audit_status"], "PROVISIONALLY_ACCEPTED");
    assert_eq!(count(&h, "order-events", "order.audit.provisionally_accepted", "o-sqs").await, 1);
    assert_eq!(count(&h, "handler-notifications", "notification", "o-sqs").await, 1);
    assert!(h.dead_letters("audit-results-queue").await.is_empty());
}

async fn scheduled_transition(aws: bool) {
    let faults = Arc::new(CrashAfterWrite::default());
    let h = Harness::with_faults(aws, faults.clone()).await;
    h.dispatched_order("o-tick").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "o-tick", "STOCK_SHORTAGE", h.now())).await;
    assert_eq!(count(&h, "audit-requests", "audit.requested", "o-tick").await, 1);
    faults.arm("o-tick");
    // Past the first re-audit (about 5 minutes), short of the second.
    h.advance(8 * 60).await;
    assert_eq!(faults.crashes(), 1, "the tick's write crashed");
    let requests = h.about("audit-requests", "audit.requested", "o-tick").await;
    let attempts: Vec<_> = requests.iter().map(|m| m.message["data"]["attempt"].clone()).collect();
    assert_eq!(attempts, [json!(1), json!(2)]);
    assert_eq!(h.order("o-tick").await["reaudit_rule"]["attempts"], 2);
}

macro_rules! both {
    ($name:ident, $run:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$run(false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn aws() {
                super::$run(true).await;
            }
        }
    };
}

both!(an_http_writer_crashed_after_its_write_still_gets_its_messages_out, http_transition);
both!(an_sqs_writer_crashed_after_its_write_still_gets_its_messages_out, sqs_transition);
both!(a_tick_crashed_after_its_write_still_gets_its_messages_out, scheduled_transition);

/// A committed write whose message can never be sent (its topic does not exist).
fn undeliverable() -> Write {
    let message = OutboundMessage {
        id: "stuck-1".into(),
        topic: "no-such-topic".into(),
        body: json!({"id": "stuck-1"}).to_string(),
        attributes: [("type".to_string(), "test.stuck".to_string())].into(),
        via: Via::Topic,
    };
    let item = Item::new(Key::new("TEST#stuck", "TEST"), "{}".into()).with_outbox(vec![message]);
    Write::Put { item, condition: Condition::NotExists }
}

scenario!(a_record_that_fails_every_retry_goes_to_the_failure_queue_and_the_stream_moves_on, |h: Harness| async move {
    h.rt.deps.store.write(undeliverable()).await.unwrap();
    let (status, body) = h.post("/orders", &retail_order("o-after", "c-after", "10.00")).await;
    assert_eq!(status, 201, "{body}");
    h.settle().await;
    // The order written after the stuck record was relayed.
    assert_eq!(count(&h, "order-events", "order.dispatched", "o-after").await, 1);
    // The stuck one is on the failure queue, where the mapping's on-failure destination
    // puts a record that used up its retries: where it is, and why it is there.
    let failures = TOPOLOGY.stream.failure_queue.name;
    let parked = h.rt.broker().receive(failures, 10).await.unwrap();
    let [record] = &parked[..] else { panic!("{parked:?}") };
    let body: serde_json::Value = serde_json::from_str(&record.body).unwrap();
    assert_eq!(body["requestContext"]["condition"], "RetryAttemptsExhausted", "{body}");
    let attempts = u64::from(TOPOLOGY.stream.maximum_retry_attempts) + 1;
    assert_eq!(body["requestContext"]["approximateInvokeCount"], attempts, "{body}");
    assert!(body["DDBStreamBatchInfo"]["startSequenceNumber"].is_string(), "{body}");
    assert_eq!(record.attributes["type"], "outbox.retries_exhausted");
});
