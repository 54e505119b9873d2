//! The store's contract ([`super::super::store_contract`]) on the in-memory store.

use super::super::store_contract::{store_contract_tests, ContractStore};
use super::*;

fn fresh(faults: Arc<dyn Faults>) -> (Box<dyn std::any::Any>, Arc<dyn ContractStore>) {
    (Box::new(()), Arc::new(EmbeddedStore::new(faults)))
}

store_contract_tests!(fresh);
