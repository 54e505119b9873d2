//! The metrics the function writes on Lambda: every answered request counted, in valid
//! CloudWatch embedded-metric-format documents.

use std::sync::Arc;

use orderflow_shared::adapters::embedded::{emf, fixtures, Faults, FaultyStore, World};
use orderflow_shared::edge::metrics::{self, NAMESPACE};
use orderflow_shared::error::StoreError;
use orderflow_shared::ports::Write;
use orderflow_shared::topology::RISK_CHECK;
use serde_json::Value;

use crate::handle;

/// A table that refuses every write.
struct WritesFail;

impl Faults for WritesFail {
    fn before_write(&self, _write: &Write) -> Result<(), StoreError> {
        Err(StoreError::Backend("the table is unavailable".into()))
    }
}

async fn post_order(w: &World) -> (u16, Value) {
    let event: Value = fixtures::load("api-post-order.json");
    fixtures::answer(handle(&w.deps, fixtures::request(&event)).await)
}

#[tokio::test]
async fn answers_are_counted_processed_and_5xx_failed_in_valid_emf() {
    let collector = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE).init().unwrap();
    let (status, body) = post_order(&World::new()).await;
    assert_eq!(status, 201, "{body}");
    let mut broken = World::new();
    broken.deps.store = Arc::new(FaultyStore::new(broken.store.clone(), Arc::new(WritesFail)));
    let (status, body) = post_order(&broken).await;
    assert!(status >= 500, "{status} {body}");
    let emitted = emf::flush(collector);
    for name in [metrics::PROCESSED, metrics::FAILED] {
        assert!(emf::contains(&emitted, name, &[("function", RISK_CHECK)]), "{name} missing from {emitted:?}");
    }
}
