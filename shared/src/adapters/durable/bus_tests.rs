//! The bus's contract (`embedded/bus_contract.rs`, the in-memory bus's too) on a data
//! directory; that both buses build the same deliveries; and what only the durable bus
//! does (a batch to several topics in one transaction).

use super::*;
use crate::adapters::durable::testdir::TestDir;
use crate::adapters::durable::DataDir;
use crate::adapters::embedded::bus_contract::{
    bus_contract_tests, message, message_of_size, numbered, numbers, published, start, topology, ContractBus,
};
use crate::adapters::embedded::{EmbeddedBus, ManualClock, NoFaults};
use crate::ports::{Broker, MAX_MESSAGE_BYTES};

/// A bus on a fresh directory, and the directory (removed when dropped).
fn fresh(
    topology: Topology,
    clock: Arc<ManualClock>,
    faults: Arc<dyn Faults>,
) -> (Box<dyn std::any::Any>, Arc<dyn ContractBus>) {
    let dir = TestDir::new("bus");
    let bus = DataDir::open(dir.path()).unwrap().bus(topology, clock, faults);
    (Box::new(dir), bus)
}

bus_contract_tests!(fresh);

fn setup(raw: bool) -> (Box<dyn std::any::Any>, Arc<dyn ContractBus>) {
    fresh(topology(raw), start(), Arc::new(NoFaults))
}

#[tokio::test]
async fn both_buses_record_and_deliver_a_publish_alike() {
    for raw in [false, true] {
        let (_dir, durable) = setup(raw);
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
            record(published(durable.as_ref(), "order-events").unwrap()),
            record(memory.published("order-events").unwrap())
        );
    }
}

#[tokio::test]
async fn messages_to_several_topics_go_in_one_transaction_all_or_none() {
    let (_dir, bus) = setup(true);
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
    assert_eq!(published(bus.as_ref(), "order-events").unwrap().len(), 0);
    assert_eq!(published(bus.as_ref(), "audit-requests").unwrap().len(), 0);
    assert_eq!(bus.stats("work").await.unwrap().visible, 0);
    // All of it, in order, each to its topic.
    bus.publish_batch(&messages[..3]).await.unwrap();
    let ids = |topic: &str| {
        published(bus.as_ref(), topic).unwrap().into_iter().map(|p| p.message["k"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids("order-events"), ["wanted", "other"]);
    assert_eq!(ids("audit-requests"), ["a"]);
    let queued = bus.receive("work", 10).await.unwrap();
    assert_eq!(queued.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["{\"k\":\"wanted\"}"]);
}

#[tokio::test]
async fn a_bus_keeping_the_latest_messages_shows_those_and_deletes_the_rest_from_the_directory() {
    let dir = TestDir::new("bus-keep");
    let data = DataDir::open(dir.path()).unwrap();
    let bus = data.bus_keeping(topology(true), start(), Arc::new(NoFaults), Some(3));
    let rows = || -> i64 {
        let conn = data.shared.conn();
        conn.query_row("SELECT COUNT(*) FROM published WHERE topic = 'order-events'", [], |r| r.get(0)).unwrap()
    };
    for batch in 0..4 {
        bus.publish_batch(&numbered(batch * 10, 10)).await.unwrap();
    }
    // Shown: the latest three; kept in the directory until the next trim: all of them.
    assert_eq!(numbers(published(bus.as_ref(), "order-events").unwrap()), [37, 38, 39]);
    assert_eq!(rows(), 40);
    // Once TRIM_EVERY have been published, the older ones are deleted.
    for batch in 4..TRIM_EVERY / 10 {
        bus.publish_batch(&numbered(batch * 10, 10)).await.unwrap();
    }
    assert_eq!(rows(), 3);
    bus.publish(&numbered(TRIM_EVERY, 1)[0]).await.unwrap();
    assert_eq!(rows(), 4);
    let latest = [TRIM_EVERY - 2, TRIM_EVERY - 1, TRIM_EVERY].map(|n| serde_json::json!(n));
    assert_eq!(numbers(published(bus.as_ref(), "order-events").unwrap()), latest);
    // The queue's copies are the queue's: every one is still there.
    assert_eq!(bus.stats("work").await.unwrap().visible, TRIM_EVERY + 1);
    drop(bus);
    drop(data);
    // Reopened, keeping every message: what was deleted stays deleted, the rest is there.
    let data = DataDir::open(dir.path()).unwrap();
    let bus = data.bus(topology(true), start(), Arc::new(NoFaults));
    assert_eq!(published(bus.as_ref(), "order-events").unwrap().len(), 4);
}
