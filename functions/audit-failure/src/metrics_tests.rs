//! The metrics the function writes on Lambda: one CloudWatch embedded-metric-format
//! document per line, each valid (the `_aws` metadata, and every metric it declares as
//! a top-level number).

use orderflow_shared::adapters::embedded::{emf, fixtures, World};
use orderflow_shared::edge::metrics::{self, NAMESPACE};
use orderflow_shared::topology::{AUDIT_FAILURE, AUDIT_RESULTS_QUEUE};

use crate::handle;

#[tokio::test]
async fn every_emf_line_is_a_valid_embedded_metric_document() {
    let collector = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE).init().unwrap();
    metrics::describe();
    metrics::cold_start(AUDIT_FAILURE);
    let w = World::new();
    // An audit failure for an order that does not exist: failed and dead-lettered.
    let response = handle(&w.deps, fixtures::load("sqs-audit-failed.json")).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let emitted = emf::flush(collector);
    assert!(emf::contains(&emitted, metrics::COLD_STARTS, &[("function", AUDIT_FAILURE)]), "{emitted:?}");
    for name in [metrics::FAILED, metrics::DEAD_LETTERED] {
        let dimensions = [("function", AUDIT_FAILURE), ("queue", AUDIT_RESULTS_QUEUE)];
        assert!(emf::contains(&emitted, name, &dimensions), "{name} missing from {emitted:?}");
    }
}
