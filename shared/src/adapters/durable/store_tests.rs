//! The store's contract (`embedded/store_contract.rs`, the in-memory store's too) on a
//! data directory.

use super::*;
use crate::adapters::durable::testdir::TestDir;
use crate::adapters::durable::DataDir;
use crate::adapters::embedded::store_contract::{store_contract_tests, ContractStore};

/// A store on a fresh directory, and the directory (removed when dropped).
fn fresh(faults: Arc<dyn Faults>) -> (Box<dyn std::any::Any>, Arc<dyn ContractStore>) {
    let dir = TestDir::new("store");
    let store = DataDir::open(dir.path()).unwrap().store(faults);
    (Box::new(dir), store)
}

store_contract_tests!(fresh);
