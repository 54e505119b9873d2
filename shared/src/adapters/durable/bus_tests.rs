//! The in-memory bus's behaviour tests (`embedded/bus_tests.rs`), run on a data
//! directory, and checks that both buses build the same deliveries.

use chrono::TimeZone;

use super::*;
use crate::adapters::durable::testdir::TestDir;
use crate::adapters::durable::DataDir;
use crate::adapters::embedded::{EmbeddedBus, ManualClock, NoFaults};
use crate::ports::{Broker, MAX_MESSAGE_BYTES};
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

fn start() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()))
}

/// A bus on a fresh directory; keep the `TestDir` alive for the test's length.
fn with_faults(raw: bool, faults: Arc<dyn Faults>) -> (TestDir, Arc<ManualClock>, Arc<DurableBus>) {
    let dir = TestDir::new("bus");
    let clock = start();
    let bus = DataDir::open(dir.path()).unwrap().bus(topology(raw), clock.clone(), faults);
    (dir, clock, bus)
}

fn setup(raw: bool) -> (TestDir, Arc<ManualClock>, Arc<DurableBus>) {
    with_faults(raw, Arc::new(NoFaults))
}

fn published(bus: &DurableBus, topic: &str) -> Option<Vec<Published>> {
    bus.published_on(topic).unwrap()
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
async fn receive_poison_to_the_limit(bus: &DurableBus) {
    bus.send("work", "poison", &BTreeMap::new()).await.unwrap();
    for _ in 0..2 {
        let got = bus.receive("work", 10).await.unwrap();
        bus.release("work", &got[0].receipt, 0).await.unwrap();
    }
}

#[tokio::test]
async fn publish_records_and_fans_out_through_the_filter_policy() {
    let (_dir, _, bus) = setup(true);
    bus.publish(&message("wanted")).await.unwrap();
    bus.publish(&message("ignored")).await.unwrap();
    assert_eq!(published(&bus, "order-events").unwrap().len(), 2);
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "{\"k\":\"wanted\"}");
    assert_eq!(got[0].attributes["type"], "wanted");
}

#[tokio::test]
async fn without_raw_delivery_the_body_is_an_sns_envelope() {
    let (_dir, _, bus) = setup(false);
    bus.publish(&message("wanted")).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    let (body, attrs) = crate::messages::unwrap_sns(&got[0].body, &got[0].attributes);
    assert_eq!(body, "{\"k\":\"wanted\"}");
    assert_eq!(attrs["type"], "wanted");
}

#[tokio::test]
async fn both_buses_record_and_deliver_a_publish_alike() {
    for raw in [false, true] {
        let (_dir, _, durable) = setup(raw);
        let memory = EmbeddedBus::new(topology(raw), start());
        // Text, JSON with spaces and keys out of order, a bare JSON string.
        for body in ["not json", r#" {"b": 1, "a": [true, null]}"#, r#""a string""#] {
            let mut m = message("wanted");
            m.body = body.into();
            durable.publish(&m).await.unwrap();
            memory.publish(&m).await.unwrap();
        }
        let (d, e) = (durable.receive("work", 10).await.unwrap(), memory.receive("work", 10).await.unwrap());
        let view = |got: &[ReceivedMessage]| -> Vec<_> {
            got.iter().map(|m| (m.message_id.clone(), m.body.clone(), m.attributes.clone(), m.receive_count)).collect()
        };
        assert_eq!(view(&d), view(&e), "raw delivery {raw}");
        let record = |p: Vec<Published>| -> Vec<_> {
            p.into_iter().map(|p| (p.message_id, p.message, p.attributes, p.published_at)).collect()
        };
        assert_eq!(
            record(published(&durable, "order-events").unwrap()),
            record(memory.published("order-events").unwrap())
        );
    }
}

#[tokio::test]
async fn unknown_topics_and_queues_are_refused() {
    let (_dir, _, bus) = setup(true);
    let mut m = message("wanted");
    m.topic = "nowhere".into();
    assert!(matches!(bus.publish(&m).await, Err(Error::Publish(_))));
    assert!(published(&bus, "nowhere").is_none());
    let Err(Error::Queue(reason)) = bus.send("nowhere", "m", &BTreeMap::new()).await else { panic!("unknown queue") };
    assert_eq!(reason, "unknown queue nowhere");
    assert!(bus.receive("nowhere", 1).await.is_err());
}

#[tokio::test]
async fn the_relay_failure_queue_keeps_messages_with_sqs_s_default_timeout() {
    let (_dir, clock, bus) = setup(true);
    let failures = crate::topology::TOPOLOGY.stream.failure_queue.name;
    bus.send(failures, "gave up", &BTreeMap::new()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(bus.receive(failures, 10).await.unwrap().len(), 1, "no redrive");
        clock.advance(Duration::seconds(29));
        assert!(bus.receive(failures, 10).await.unwrap().is_empty());
        clock.advance(Duration::seconds(1));
    }
}

#[tokio::test]
async fn received_messages_hide_until_the_visibility_timeout() {
    let (_dir, clock, bus) = setup(true);
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
async fn receive_takes_at_most_max_in_queue_order() {
    let (_dir, _, bus) = setup(true);
    for body in ["a", "b", "c"] {
        bus.send("work", body, &BTreeMap::new()).await.unwrap();
    }
    assert!(bus.receive("work", 0).await.unwrap().is_empty());
    let bodies = |got: Vec<ReceivedMessage>| got.into_iter().map(|m| m.body).collect::<Vec<_>>();
    assert_eq!(bodies(bus.receive("work", 2).await.unwrap()), ["a", "b"]);
    assert_eq!(bodies(bus.receive("work", 2).await.unwrap()), ["c"]);
}

#[tokio::test]
async fn deleted_messages_are_gone_and_released_ones_come_back() {
    let (_dir, _, bus) = setup(true);
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
    let (_dir, _, bus) = setup(true);
    receive_poison_to_the_limit(&bus).await;
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let stats = bus.stats("work").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead_letters), (0, 0, 1));
    assert_eq!(bus.dead_letters("work").await.unwrap()[0].body, "poison");
}

#[tokio::test]
async fn redriven_messages_do_not_count_towards_max() {
    let (_dir, _, bus) = setup(true);
    bus.send("work", "poison", &BTreeMap::new()).await.unwrap();
    for _ in 0..2 {
        let got = bus.receive("work", 1).await.unwrap();
        bus.release("work", &got[0].receipt, 0).await.unwrap();
    }
    bus.send("work", "fine", &BTreeMap::new()).await.unwrap();
    let got = bus.receive("work", 1).await.unwrap();
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["fine"]);
    assert_eq!(bus.stats("work").await.unwrap().dead_letters, 1);
}

struct Twice;

impl Faults for Twice {
    fn extra_copies(&self, _: &str) -> u32 {
        1
    }
}

#[tokio::test]
async fn injected_duplicates_deliver_the_same_message_twice() {
    let (_dir, _, bus) = with_faults(true, Arc::new(Twice));
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message_id, got[1].message_id);
}

struct Late;

impl Faults for Late {
    fn delivery_delay_secs(&self, _: &str) -> u32 {
        5
    }
}

#[tokio::test]
async fn injected_delays_hide_a_new_message_until_they_pass() {
    let (_dir, clock, bus) = with_faults(true, Arc::new(Late));
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    assert_eq!(bus.stats("work").await.unwrap().in_flight, 1);
    clock.advance(Duration::seconds(5));
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);
}

/// Crashes every publish and send just before it (`before`) or just after it.
struct Crash {
    before: bool,
}

impl Faults for Crash {
    fn before_publish(&self, destination: &str) -> Result<(), crate::error::Error> {
        match self.before {
            true => Err(crate::error::Error::Publish(format!("injected crash before {destination}"))),
            false => Ok(()),
        }
    }

    fn after_publish(&self, destination: &str) -> Result<(), crate::error::Error> {
        match self.before {
            true => Ok(()),
            false => Err(crate::error::Error::Publish(format!("injected crash after {destination}"))),
        }
    }
}

#[tokio::test]
async fn a_crash_before_a_publish_or_send_leaves_nothing_and_one_after_leaves_it_done() {
    let (_dir, _, bus) = with_faults(true, Arc::new(Crash { before: true }));
    assert!(bus.publish(&message("wanted")).await.is_err());
    assert!(bus.send("work", "m", &BTreeMap::new()).await.is_err());
    assert_eq!(published(&bus, "order-events").unwrap().len(), 0);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);

    let (_dir, _, bus) = with_faults(true, Arc::new(Crash { before: false }));
    assert!(bus.publish(&message("wanted")).await.is_err());
    assert!(bus.send("work", "m", &BTreeMap::new()).await.is_err());
    assert_eq!(published(&bus, "order-events").unwrap().len(), 1);
    assert_eq!(bus.stats("work").await.unwrap().visible, 2);
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
    let (_dir, _, bus) = setup(true);
    let largest = message_of_size(MAX_MESSAGE_BYTES);
    bus.publish(&largest).await.unwrap();
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);

    let over = message_of_size(MAX_MESSAGE_BYTES + 1);
    let Err(Error::Publish(reason)) = bus.publish(&over).await else { panic!("over the limit") };
    assert!(reason.contains("262145 bytes, over the 262144-byte"), "{reason}");
    assert_eq!(published(&bus, "order-events").unwrap().len(), 1);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);
}

#[tokio::test]
async fn a_message_over_the_sqs_limit_is_refused_on_send() {
    let (_dir, _, bus) = setup(true);
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
    let (_dir, _, bus) = setup(false);
    let mut m = message("wanted");
    m.body = format!("\"{}\"", r#"\""#.repeat(100_000));
    assert!(m.size() < MAX_MESSAGE_BYTES);
    let Err(Error::Publish(reason)) = bus.publish(&m).await else { panic!("envelope over the limit") };
    assert!(reason.starts_with("order-events → work: the message is"), "{reason}");
    assert!(published(&bus, "order-events").unwrap().is_empty());
}

#[tokio::test]
async fn dead_letters_moved_back_are_delivered_again_with_a_fresh_count() {
    let (_dir, _, bus) = setup(true);
    receive_poison_to_the_limit(&bus).await;
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let id = bus.dead_letters("work").await.unwrap()[0].message_id.clone();
    assert_eq!(bus.redrive("work", 10).await.unwrap(), vec![id.clone()]);
    assert!(bus.dead_letters("work").await.unwrap().is_empty());
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!((got[0].message_id.as_str(), got[0].body.as_str(), got[0].receive_count), (id.as_str(), "poison", 1));
    assert_eq!(bus.redrive("work", 10).await.unwrap(), Vec::<String>::new(), "nothing left to move");
}

#[tokio::test]
async fn both_buses_say_a_queue_is_pending_while_it_holds_a_message_visible_or_in_flight() {
    let (_dir, _, durable) = setup(true);
    let memory = EmbeddedBus::new(topology(true), start());
    let buses: [&dyn Broker; 2] = [durable.as_ref(), &memory];
    for bus in buses {
        assert!(!bus.pending("work").await.unwrap(), "empty");
        bus.send("work", "m", &BTreeMap::new()).await.unwrap();
        assert!(bus.pending("work").await.unwrap(), "visible");
        let got = bus.receive("work", 10).await.unwrap();
        assert!(bus.pending("work").await.unwrap(), "in flight");
        bus.delete("work", &got[0].receipt).await.unwrap();
        assert!(!bus.pending("work").await.unwrap(), "deleted");
        assert!(matches!(bus.pending("nope").await, Err(Error::Queue(_))));
    }
}

#[tokio::test]
async fn messages_to_several_topics_go_in_one_transaction_all_or_none() {
    let (_dir, _, bus) = setup(true);
    let to = |topic: &str, kind: &str, via: Via| OutboundMessage { topic: topic.into(), via, ..message(kind) };
    let messages = [
        to("order-events", "wanted", Via::Topic),
        to("audit-requests", "a", Via::Topic),
        to("order-events", "other", Via::Topic),
        to("work", "q", Via::Queue),
        to("order-events", "later", Via::Topic),
    ];
    // However many, whatever their topics, up to the first for a queue (SNS would take
    // the first alone: the next goes to another topic).
    assert_eq!(bus.batch_len(&messages), 3);
    assert_eq!(crate::ports::batch_len(&messages), 1);
    // One message refused: nothing of the batch is recorded or queued.
    let mut refused = messages.clone();
    refused[2] = OutboundMessage { via: Via::Topic, ..message_of_size(MAX_MESSAGE_BYTES + 1) };
    assert!(matches!(bus.publish_batch(&refused[..3]).await, Err(Error::Publish(_))));
    assert_eq!(published(&bus, "order-events").unwrap().len(), 0);
    assert_eq!(published(&bus, "audit-requests").unwrap().len(), 0);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);
    // All of it, in order, each to its topic.
    bus.publish_batch(&messages[..3]).await.unwrap();
    let ids =
        |topic: &str| published(&bus, topic).unwrap().into_iter().map(|p| p.message["k"].clone()).collect::<Vec<_>>();
    assert_eq!(ids("order-events"), ["wanted", "other"]);
    assert_eq!(ids("audit-requests"), ["a"]);
    let queued = bus.receive("work", 10).await.unwrap();
    assert_eq!(queued.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["{\"k\":\"wanted\"}"]);
}
