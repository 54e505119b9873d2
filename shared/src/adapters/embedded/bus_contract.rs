//! The bus's contract, one suite for both embedded buses: the in-memory one
//! (`bus_tests.rs`) and the data directory's (`durable/bus_tests.rs`) each run every
//! test here through [`bus_contract_tests!`], with their own [`Fresh`]. Publishing
//! through filter policies (raw or in SNS's envelope), visibility, receive counts,
//! dead letters and their redrive, the services' size limits and injected faults behave
//! the same on both, as they do on SNS and SQS.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::{Faults, ManualClock, NoFaults, Published, PublishedLog};
use crate::error::Error;
use crate::ports::{Broker, OutboundMessage, Publisher, ReceivedMessage, MAX_MESSAGE_BYTES};
use crate::topology::{Queue, Subscription, Topology};

/// A bus's publishing, queues and published log.
pub(crate) trait ContractBus: Publisher + Broker + PublishedLog {}

impl<T: Publisher + Broker + PublishedLog> ContractBus for T {}

/// A fresh, empty bus of `topology` on `clock` whose publishes and sends go through
/// `faults`, and whatever must live as long as it does (the durable bus's directory).
pub(crate) type Fresh =
    fn(Topology, Arc<ManualClock>, Arc<dyn Faults>) -> (Box<dyn std::any::Any>, Arc<dyn ContractBus>);

/// The bus under test, its clock, and what keeps it alive.
struct Setup {
    _keep: Box<dyn std::any::Any>,
    clock: Arc<ManualClock>,
    bus: Arc<dyn ContractBus>,
}

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

/// One queue, `work`, subscribed to `order-events` for messages of type `wanted`.
pub(crate) fn topology(raw: bool) -> Topology {
    let subs: &'static [Subscription] = Box::leak(Box::new([Subscription {
        topic: "order-events",
        queue: "work",
        filter_policy: Some(r#"{"type": ["wanted"]}"#),
        raw_delivery: raw,
    }]));
    Topology { queues: QUEUES, subscriptions: subs, ..crate::topology::TOPOLOGY }
}

pub(crate) fn start() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()))
}

fn with_faults(fresh: Fresh, raw: bool, faults: Arc<dyn Faults>) -> Setup {
    let clock = start();
    let (keep, bus) = fresh(topology(raw), clock.clone(), faults);
    Setup { _keep: keep, clock, bus }
}

fn setup(fresh: Fresh, raw: bool) -> Setup {
    with_faults(fresh, raw, Arc::new(NoFaults))
}

pub(crate) fn published(bus: &dyn ContractBus, topic: &str) -> Option<Vec<Published>> {
    bus.published_on(topic).unwrap()
}

/// A message of type `kind` to `order-events`.
pub(crate) fn message(kind: &str) -> OutboundMessage {
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

/// `n` `wanted` messages to `order-events`, their bodies numbered from `from`.
pub(crate) fn numbered(from: usize, n: usize) -> Vec<OutboundMessage> {
    (from..from + n).map(|i| OutboundMessage { body: format!("{{\"n\":{i}}}"), ..message("wanted") }).collect()
}

/// The numbers of [`numbered`] messages as published, in order.
pub(crate) fn numbers(published: Vec<Published>) -> Vec<serde_json::Value> {
    published.into_iter().map(|p| p.message["n"].clone()).collect()
}

/// A `wanted` message whose body and attributes come to exactly `size` bytes.
pub(crate) fn message_of_size(size: usize) -> OutboundMessage {
    let mut m = message("wanted");
    let overhead = m.size() - m.body.len();
    m.body = format!("\"{}\"", "x".repeat(size - overhead - 2));
    m
}

/// Sends `poison` to `work` and has it received (and released) maxReceiveCount times,
/// so the next receive moves it to the dead letters.
async fn receive_poison_to_the_limit(bus: &dyn ContractBus) {
    bus.send("work", "poison", &BTreeMap::new()).await.unwrap();
    for _ in 0..2 {
        let got = bus.receive("work", 10).await.unwrap();
        bus.release("work", &got[0].receipt, 0).await.unwrap();
    }
}

struct Twice;

impl Faults for Twice {
    fn extra_copies(&self, _: &str) -> u32 {
        1
    }
}

struct Late;

impl Faults for Late {
    fn delivery_delay_secs(&self, _: &str) -> u32 {
        5
    }
}

/// Crashes every publish and send just before it (`before`) or just after it.
struct Crash {
    before: bool,
}

impl Faults for Crash {
    fn before_publish(&self, destination: &str) -> Result<(), Error> {
        match self.before {
            true => Err(Error::Publish(format!("injected crash before {destination}"))),
            false => Ok(()),
        }
    }

    fn after_publish(&self, destination: &str) -> Result<(), Error> {
        match self.before {
            true => Ok(()),
            false => Err(Error::Publish(format!("injected crash after {destination}"))),
        }
    }
}

/// Runs every test of the contract on the bus `fresh` makes: one `#[tokio::test]`
/// each, under the contract's names. A test left out of this list is dead code in the
/// test build, which the lints refuse.
macro_rules! bus_contract_tests {
    ($fresh:expr) => {
        bus_contract_tests!($fresh;
            publish_records_and_fans_out_through_the_filter_policy,
            without_raw_delivery_the_body_is_an_sns_envelope,
            unknown_topics_and_queues_are_refused,
            the_relay_failure_queue_keeps_messages_with_sqs_s_default_timeout,
            received_messages_hide_until_the_visibility_timeout,
            receive_takes_at_most_max_in_queue_order,
            deleted_messages_are_gone_and_released_ones_come_back,
            only_the_latest_receipt_of_a_message_deletes_or_releases_it,
            a_message_received_max_receive_count_times_moves_to_the_dlq,
            redriven_messages_do_not_count_towards_max,
            injected_duplicates_deliver_the_same_message_twice,
            injected_delays_hide_a_new_message_until_they_pass,
            a_crash_before_a_publish_or_send_leaves_nothing_and_one_after_leaves_it_done,
            a_message_over_the_sns_limit_is_refused_with_nothing_recorded_or_queued,
            a_message_over_the_sqs_limit_is_refused_on_send,
            an_sns_envelope_that_would_not_fit_its_queue_refuses_the_publish,
            dead_letters_moved_back_are_delivered_again_with_a_fresh_count,
            a_queue_is_pending_while_it_holds_a_message_visible_or_in_flight,
        );
    };
    ($fresh:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::adapters::embedded::bus_contract::$name($fresh).await;
            }
        )+
    };
}
pub(crate) use bus_contract_tests;

pub(crate) async fn publish_records_and_fans_out_through_the_filter_policy(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    bus.publish(&message("wanted")).await.unwrap();
    bus.publish(&message("ignored")).await.unwrap();
    assert_eq!(published(bus.as_ref(), "order-events").unwrap().len(), 2);
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "{\"k\":\"wanted\"}");
    assert_eq!(got[0].attributes["type"], "wanted");
}

pub(crate) async fn without_raw_delivery_the_body_is_an_sns_envelope(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, false);
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

pub(crate) async fn unknown_topics_and_queues_are_refused(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    let mut m = message("wanted");
    m.topic = "nowhere".into();
    assert!(matches!(bus.publish(&m).await, Err(Error::Publish(_))));
    assert!(published(bus.as_ref(), "nowhere").is_none());
    let Err(Error::Queue(reason)) = bus.send("nowhere", "m", &BTreeMap::new()).await else { panic!("unknown queue") };
    assert_eq!(reason, "unknown queue nowhere");
    assert!(bus.receive("nowhere", 1).await.is_err());
}

pub(crate) async fn the_relay_failure_queue_keeps_messages_with_sqs_s_default_timeout(fresh: Fresh) {
    let Setup { _keep, clock, bus } = setup(fresh, true);
    let failures = crate::topology::TOPOLOGY.stream.failure_queue.name;
    bus.send(failures, "gave up", &BTreeMap::new()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(bus.receive(failures, 10).await.unwrap().len(), 1, "no redrive");
        clock.advance(Duration::seconds(29));
        assert!(bus.receive(failures, 10).await.unwrap().is_empty());
        clock.advance(Duration::seconds(1));
    }
}

pub(crate) async fn received_messages_hide_until_the_visibility_timeout(fresh: Fresh) {
    let Setup { _keep, clock, bus } = setup(fresh, true);
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let stats = bus.stats("work").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight), (0, 1));
    clock.advance(Duration::seconds(61));
    let again = bus.receive("work", 10).await.unwrap();
    assert_eq!(again[0].receive_count, 2);
}

pub(crate) async fn receive_takes_at_most_max_in_queue_order(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    for body in ["a", "b", "c"] {
        bus.send("work", body, &BTreeMap::new()).await.unwrap();
    }
    assert!(bus.receive("work", 0).await.unwrap().is_empty());
    let bodies = |got: Vec<ReceivedMessage>| got.into_iter().map(|m| m.body).collect::<Vec<_>>();
    assert_eq!(bodies(bus.receive("work", 2).await.unwrap()), ["a", "b"]);
    assert_eq!(bodies(bus.receive("work", 2).await.unwrap()), ["c"]);
}

pub(crate) async fn deleted_messages_are_gone_and_released_ones_come_back(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    bus.send("work", "a", &BTreeMap::new()).await.unwrap();
    bus.send("work", "b", &BTreeMap::new()).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    bus.delete("work", &got[0].receipt).await.unwrap();
    bus.release("work", &got[1].receipt, 0).await.unwrap();
    let again = bus.receive("work", 10).await.unwrap();
    assert_eq!(again.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["b"]);
}

pub(crate) async fn only_the_latest_receipt_of_a_message_deletes_or_releases_it(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    bus.send("work", "a", &BTreeMap::new()).await.unwrap();
    let first = bus.receive("work", 10).await.unwrap().remove(0).receipt;
    bus.release("work", &first, 0).await.unwrap();
    let latest = bus.receive("work", 10).await.unwrap().remove(0).receipt;
    assert_ne!(first, latest);
    for stale in [first.as_str(), "", "x", "1/rcpt-0-1", "9/", "/9", "-1/x"] {
        bus.delete("work", stale).await.unwrap();
        bus.delete_batch("work", &[stale]).await.unwrap();
        bus.release("work", stale, 0).await.unwrap();
    }
    let stats = bus.stats("work").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight), (0, 1), "still in flight under its latest receipt");
    bus.delete("work", &latest).await.unwrap();
    assert!(!bus.pending("work").await.unwrap());
}

pub(crate) async fn a_message_received_max_receive_count_times_moves_to_the_dlq(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    receive_poison_to_the_limit(bus.as_ref()).await;
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let stats = bus.stats("work").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead_letters), (0, 0, 1));
    assert_eq!(bus.dead_letters("work").await.unwrap()[0].body, "poison");
}

pub(crate) async fn redriven_messages_do_not_count_towards_max(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
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

pub(crate) async fn injected_duplicates_deliver_the_same_message_twice(fresh: Fresh) {
    let Setup { _keep, bus, .. } = with_faults(fresh, true, Arc::new(Twice));
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message_id, got[1].message_id);
}

pub(crate) async fn injected_delays_hide_a_new_message_until_they_pass(fresh: Fresh) {
    let Setup { _keep, clock, bus } = with_faults(fresh, true, Arc::new(Late));
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    assert_eq!(bus.stats("work").await.unwrap().in_flight, 1);
    clock.advance(Duration::seconds(5));
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);
}

pub(crate) async fn a_crash_before_a_publish_or_send_leaves_nothing_and_one_after_leaves_it_done(fresh: Fresh) {
    let Setup { _keep, bus, .. } = with_faults(fresh, true, Arc::new(Crash { before: true }));
    assert!(bus.publish(&message("wanted")).await.is_err());
    assert!(bus.send("work", "m", &BTreeMap::new()).await.is_err());
    assert_eq!(published(bus.as_ref(), "order-events").unwrap().len(), 0);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);

    let Setup { _keep, bus, .. } = with_faults(fresh, true, Arc::new(Crash { before: false }));
    assert!(bus.publish(&message("wanted")).await.is_err());
    assert!(bus.send("work", "m", &BTreeMap::new()).await.is_err());
    assert_eq!(published(bus.as_ref(), "order-events").unwrap().len(), 1);
    assert_eq!(bus.stats("work").await.unwrap().visible, 2);
}

pub(crate) async fn a_message_over_the_sns_limit_is_refused_with_nothing_recorded_or_queued(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    let largest = message_of_size(MAX_MESSAGE_BYTES);
    bus.publish(&largest).await.unwrap();
    assert_eq!(bus.receive("work", 10).await.unwrap().len(), 1);

    let over = message_of_size(MAX_MESSAGE_BYTES + 1);
    let Err(Error::Publish(reason)) = bus.publish(&over).await else { panic!("over the limit") };
    assert!(reason.contains("262145 bytes, over the 262144-byte"), "{reason}");
    assert_eq!(published(bus.as_ref(), "order-events").unwrap().len(), 1);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);
}

pub(crate) async fn a_message_over_the_sqs_limit_is_refused_on_send(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    let over = message_of_size(MAX_MESSAGE_BYTES + 1);
    let Err(Error::Queue(reason)) = bus.send("work", &over.body, &over.attributes).await else {
        panic!("over the limit")
    };
    assert!(reason.starts_with("work: the message is 262145 bytes"), "{reason}");
    let fits = message_of_size(MAX_MESSAGE_BYTES);
    bus.send("work", &fits.body, &fits.attributes).await.unwrap();
    assert_eq!(bus.stats("work").await.unwrap().visible, 1);
}

pub(crate) async fn an_sns_envelope_that_would_not_fit_its_queue_refuses_the_publish(fresh: Fresh) {
    // Without raw delivery the queue gets the body escaped inside an envelope.
    let Setup { _keep, bus, .. } = setup(fresh, false);
    let mut m = message("wanted");
    m.body = format!("\"{}\"", r#"\""#.repeat(100_000));
    assert!(m.size() < MAX_MESSAGE_BYTES);
    let Err(Error::Publish(reason)) = bus.publish(&m).await else { panic!("envelope over the limit") };
    assert!(reason.starts_with("order-events → work: the message is"), "{reason}");
    assert!(published(bus.as_ref(), "order-events").unwrap().is_empty());
}

pub(crate) async fn dead_letters_moved_back_are_delivered_again_with_a_fresh_count(fresh: Fresh) {
    let Setup { _keep, bus, .. } = setup(fresh, true);
    receive_poison_to_the_limit(bus.as_ref()).await;
    assert!(bus.receive("work", 10).await.unwrap().is_empty());
    let id = bus.dead_letters("work").await.unwrap()[0].message_id.clone();
    assert_eq!(bus.redrive("work", 10).await.unwrap(), vec![id.clone()]);
    assert!(bus.dead_letters("work").await.unwrap().is_empty());
    let got = bus.receive("work", 10).await.unwrap();
    assert_eq!((got[0].message_id.as_str(), got[0].body.as_str(), got[0].receive_count), (id.as_str(), "poison", 1));
    assert_eq!(bus.redrive("work", 10).await.unwrap(), Vec::<String>::new(), "nothing left to move");
}

pub(crate) async fn a_queue_is_pending_while_it_holds_a_message_visible_or_in_flight(fresh: Fresh) {
    let Setup { bus, .. } = setup(fresh, true);
    assert!(!bus.pending("work").await.unwrap(), "empty");
    bus.send("work", "m", &BTreeMap::new()).await.unwrap();
    assert!(bus.pending("work").await.unwrap(), "visible");
    let got = bus.receive("work", 10).await.unwrap();
    assert!(bus.pending("work").await.unwrap(), "in flight");
    bus.delete("work", &got[0].receipt).await.unwrap();
    assert!(!bus.pending("work").await.unwrap(), "deleted");
    assert!(matches!(bus.pending("nope").await, Err(Error::Queue(_))));
}
