//! The metrics the function writes on Lambda: one CloudWatch embedded-metric-format
//! document per line, each valid (the `_aws` metadata, and every metric it declares as
//! a top-level number).

use orderflow_shared::adapters::embedded::{fixtures, World};
use orderflow_shared::edge::metrics::{self, NAMESPACE};
use orderflow_shared::topology::AUDIT_FAILURE;
use serde_json::Value;

use crate::handle;

fn check_emf_document(line: &str) -> Vec<String> {
    let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(doc["_aws"]["Timestamp"].is_u64(), "{line}");
    let directives = doc["_aws"]["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    let mut names = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
        for set in directive["Dimensions"].as_array().expect("Dimensions") {
            for dimension in set.as_array().expect("a dimension set") {
                let name = dimension.as_str().expect("a dimension name");
                assert!(doc[name].is_string(), "dimension {name} has no value: {line}");
            }
        }
        for metric in directive["Metrics"].as_array().expect("Metrics") {
            let name = metric["Name"].as_str().expect("Name");
            let value = &doc[name];
            let numbers = value.is_number() || value.as_array().is_some_and(|v| v.iter().all(Value::is_number));
            assert!(numbers, "metric {name} is not a top-level number: {line}");
            names.push(name.to_string());
        }
    }
    names
}

#[tokio::test]
async fn every_emf_line_is_a_valid_embedded_metric_document() {
    let collector = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE).init().unwrap();
    metrics::describe();
    metrics::cold_start(AUDIT_FAILURE);
    let w = World::new();
    // An audit failure for an order that does not exist: failed and dead-lettered.
    let response = handle(&w.deps, fixtures::load("sqs-audit-failed.json")).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let names: Vec<String> = text.lines().flat_map(check_emf_document).collect();
    for expected in [metrics::COLD_STARTS, metrics::FAILED, metrics::DEAD_LETTERED] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {text}");
    }
    assert!(
        text.contains("\"function\":\"audit-failure\"") && text.contains("\"queue\":\"audit-results-queue\""),
        "{text}"
    );
}
