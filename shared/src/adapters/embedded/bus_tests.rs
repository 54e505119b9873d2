use chrono::TimeZone;

use super::*;
use crate::adapters::embedded::ManualClock;
use crate::ports::MAX_MESSAGE_BYTES;
use crate::topology::Subscription;

const QUEUES: &[Queue] = &[Queue {
    name: "work",
    logical_id: "WorkQueue",
    dlq_logical_id: "WorkDlq",
    max_receive_count: 2,
    visibility_timeout_secs: 60,
    batch_size: 10,
    consumer: "worker",
    env: "WORK_QUEUE_URL",
}];

fn topology(raw: bool) -> Topology {
    let subs: &'static [Subscription] = Box::leak(Box::new([Subscription {
        topic: "order-events",
        queue: "work",
        filter_policy: Some(r#"{"type": ["wanted"]}"#),
        raw_delivery: raw,
    }]));
    Topology { queues: QUEUES, subscriptions: subs, ..crate::topology::TOPOLOGY }
}

fn setup(raw: bool) -> (Arc<ManualClock>, EmbeddedBus) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let bus = EmbeddedBus::new(topology(raw), clock.clone());
    (clock, bus)
}

fn message(kind: &str) -> OutboundMessage {
    let mut attributes = BTreeMap::new();
    attributes.insert("type".to_string(), kind.to_string());
    OutboundMessage {
        id: format!("m-{kind}"),
        topic: "order-events".into(),
        body: format!("{{\"k\":\"{kind}\"}}"),
        attributes,
        via: Default::default(),
    }
}

/// Sends `poison` to `work` and has it received (and released) maxReceiveCount times,
/// so the next receive moves it to the dead letters.
async fn receive_poison_to_the_limit(bus: &EmbeddedBus) {
    bus.send("work", "poison", &BTreeMap::new()).await.unwrap();
    for _ in 0..2 {
        let got = bus.receive("work", 10).await.unwrap();
        bus.release("work", &got[0].receipt, 0).await.unwrap();
    }
}

#[tokio::test]
async fn publish_records_and_fans_out_through_the_filter_policy() {
    let (_, bus) = setup(true);
    bus.publish(&message("wanted")).await.unwrap();
    bus.publish(&message("ignored")).await.unwrap();
    assert_eq!(bus.published("order-events").unwrap().len(), 2);
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "{\"k\":\"wanted\"}");
    assert_eq!(got[0].attributes["type"], "wanted");
}

#[tokio::test]
async fn without_raw_delivery_the_body_is_an_sns_envelope() {
    let (_, bus) = setup(false);
    bus.publish(&message("wanted")).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    let (body, attrs) = crate::messages::unwrap_sns(&got[0].body, &got[0].attributes);
    assert_eq!(body, "{\"k\":\"wanted\"}");
    assert_eq!(attrs["type"], "wanted");
    // SNS's notification JSON, field for field.
    let envelope: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], "arn:aws:sns:local:000000000000:order-events");
    assert_eq!(envelope["Message"], "{\"k\":\"wanted\"}");
    assert_eq!(envelope["MessageAttributes"]["type"], serde_json::json!({"Type": "String", "Value": "wanted"}));
    assert!(envelope["MessageId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(envelope["Timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(envelope.as_object().unwrap().len(), 6);
}

#[tokio::test]
async fn received_messages_hide_until_the_visibility_timeout() {
    let (clock, bus) = setup(true);
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let stats = bus.stats("work").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight), (0, 1));
    clock.advance(Duration::seconds(61));
    let again = bus.receive("work", 10).await.unwrap();
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn deleted_messages_are_gone_and_released_ones_come_back() {
    let (_, bus) = setup(true);
    bus.send("work", "a", &BTreeMap::new()).await.unwrap();
    bus.send("work", "b", &BTreeMap::new()).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    bus.delete("work", &got[0].receipt).await.unwrap();
    bus.release("work", &got[1].receipt, 0).await.unwrap();
    let again = bus.receive("work", 10).await.unwrap();
    assert_eq!(again.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["b"]);
}

#[tokio::test]
async fn a_message_received_max_receive_count_times_moves_to_the_dlq() {
    let (_, bus) = setup(true);
    receive_poison_to_the_limit(&bus).await;
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let stats = bus.stats("work").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead_letters), (0, 0, 1));
    assert_eq!(bus.dead_letters("work").await.unwrap()[0].body, "poison");
}

struct Twice;

impl Faults for Twice {
    fn extra_copies(&self, _: &str) -> u32 {
        1
    }
}

#[tokio::test]
async fn injected_duplicates_deliver_the_same_message_twice() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let bus = EmbeddedBus::with_faults(topology(true), clock, Arc::new(Twice));
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message_id, got[1].message_id);
}

/// A `wanted` message whose body and attributes come to exactly `size` bytes.
fn message_of_size(size: usize) -> OutboundMessage {
    let mut m = message("wanted");
    let overhead = m.size() - m.body.len();
    m.body = format!("\"{}\"", "x".repeat(size - overhead - 2));
    m
}

#[tokio::test]
async fn a_message_over_the_sns_limit_is_refused_with_nothing_recorded_or_queued() {
    let (_, bus) = setup(true);
    let largest = message_of_size(MAX_MESSAGE_BYTES);
    bus.publish(&largest).await.unwrap();
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);

    let over = message_of_size(MAX_MESSAGE_BYTES + 1);
    let Err(Error::Publish(reason)) = bus.publish(&over).await else { panic!("over the limit") };
    assert!(reason.contains("262145 bytes, over the 262144-byte"), "{reason}");
    assert_eq!(bus.published("order-events").unwrap().len(), 1);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);
}

#[tokio::test]
async fn a_message_over_the_sqs_limit_is_refused_on_send() {
    let (_, bus) = setup(true);
    let over = message_of_size(MAX_MESSAGE_BYTES + 1);
    let Err(Error::Queue(reason)) = bus.send("work", &over.body, &over.attributes).await else {
        panic!("over the limit")
    };
    assert!(reason.starts_with("work: the message is 262145 bytes"), "{reason}");
    let fits = message_of_size(MAX_MESSAGE_BYTES);
    bus.send("work", &fits.body, &fits.attributes).await.unwrap();
    assert_eq!(bus.stats("work").await.unwrap().visible, 1);
}

#[tokio::test]
async fn an_sns_envelope_that_would_not_fit_its_queue_refuses_the_publish() {
    // Without raw delivery the queue gets the body escaped inside an envelope.
    let (_, bus) = setup(false);
    let mut m = message("wanted");
    m.body = format!("\"{}\"", r#"\""#.repeat(100_000));
    assert!(m.size() < MAX_MESSAGE_BYTES);
    let Err(Error::Publish(reason)) = bus.publish(&m).await else { panic!("envelope over the limit") };
    assert!(reason.starts_with("order-events → work: the message is"), "{reason}");
    assert!(bus.published("order-events").unwrap().is_empty());
}

#[tokio::test]
async fn dead_letters_moved_back_are_delivered_again_with_a_fresh_count() {
    let (_, bus) = setup(true);
    receive_poison_to_the_limit(&bus).await;
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let id = bus.dead_letters("work").await.unwrap()[0].message_id.clone();
    assert_eq!(bus.redrive("work", 10).await.unwrap(), vec![id.clone()]);
    assert!(bus.dead_letters("work").await.unwrap().is_empty());
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!((got[0].message_id.as_str(), got[0].body.as_str(), got[0].receive_count), (id.as_str(), "poison", 1));
    assert_eq!(bus.redrive("work", 10).await.unwrap(), Vec::<String>::new(), "nothing left to move");
}
