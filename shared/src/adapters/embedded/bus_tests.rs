//! The bus's contract ([`super::super::bus_contract`]) on the in-memory bus.

use super::super::bus_contract::{bus_contract_tests, numbered, numbers, start, topology, ContractBus};
use super::*;
use crate::adapters::embedded::ManualClock;

fn fresh(
    topology: Topology,
    clock: Arc<ManualClock>,
    faults: Arc<dyn Faults>,
) -> (Box<dyn std::any::Any>, Arc<dyn ContractBus>) {
    (Box::new(()), Arc::new(EmbeddedBus::with_faults(topology, clock, faults)))
}

bus_contract_tests!(fresh);

#[tokio::test]
async fn a_bus_keeping_the_latest_messages_of_each_topic_shows_only_those() {
    let bus = EmbeddedBus::new(topology(true), start()).keeping_published(Some(2));
    for message in numbered(0, 5) {
        bus.publish(&message).await.unwrap();
    }
    assert_eq!(numbers(bus.published("order-events").unwrap()), [3, 4].map(|n| serde_json::json!(n)));
    // The queue's copies are the queue's: every one is still there.
    assert_eq!(bus.stats("work").await.unwrap().visible, 5);
}
