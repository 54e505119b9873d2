//! What the EMF collector wrote, read back for tests: one CloudWatch embedded-metric-format
//! document per line, each checked to be valid (the `_aws` metadata with a timestamp,
//! the namespace, every declared dimension given a string value, every declared metric
//! given a top-level number or list of numbers).

use std::collections::BTreeMap;

use metrics_cloudwatch_embedded::Collector;
use serde_json::Value;

use crate::edge::metrics::NAMESPACE;

/// One metric of one document, with the values of its dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

/// Flushes `collector` and reads every line it wrote; panics, naming the line, on one
/// that is not a valid EMF document in [`NAMESPACE`].
pub fn flush(collector: &Collector) -> Vec<Emitted> {
    let mut out = Vec::new();
    if let Err(e) = collector.flush(&mut out) {
        panic!("flushing the collector failed: {e}");
    }
    String::from_utf8_lossy(&out).lines().flat_map(document).collect()
}

/// The metrics of one EMF document.
pub fn document(line: &str) -> Vec<Emitted> {
    let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(doc["_aws"]["Timestamp"].is_u64(), "no timestamp: {line}");
    let directives = doc["_aws"]["CloudWatchMetrics"].as_array();
    let directives = directives.unwrap_or_else(|| panic!("no CloudWatchMetrics: {line}"));
    let mut emitted = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
        let sets = directive["Dimensions"].as_array().unwrap_or_else(|| panic!("no Dimensions: {line}"));
        let mut dimensions = BTreeMap::new();
        for name in sets.iter().flat_map(|set| set.as_array().into_iter().flatten()) {
            let name = name.as_str().unwrap_or_else(|| panic!("a dimension name is not a string: {line}"));
            let value = doc[name].as_str().unwrap_or_else(|| panic!("dimension {name} has no value: {line}"));
            dimensions.insert(name.to_string(), value.to_string());
        }
        let metrics = directive["Metrics"].as_array().unwrap_or_else(|| panic!("no Metrics: {line}"));
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap_or_else(|| panic!("a metric without a Name: {line}"));
            let value = &doc[name];
            let numbers = value.is_number() || value.as_array().is_some_and(|v| v.iter().all(Value::is_number));
            assert!(numbers, "metric {name} is not a top-level number: {line}");
            emitted.push(Emitted { name: name.to_string(), dimensions: dimensions.clone() });
        }
    }
    emitted
}

/// Whether `emitted` holds `name` with exactly the dimensions `dimensions`.
pub fn contains(emitted: &[Emitted], name: &str, dimensions: &[(&str, &str)]) -> bool {
    let wanted: BTreeMap<String, String> = dimensions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    emitted.iter().any(|e| e.name == name && e.dimensions == wanted)
}
