//! The bus's contract ([`super::super::bus_contract`]) on the in-memory bus.

use super::super::bus_contract::{bus_contract_tests, ContractBus};
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
