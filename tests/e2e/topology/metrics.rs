//! The metrics' dashboard and alarms in `template.yaml` against the topology: every
//! function is on the dashboard and has an alarm on its failure rate; every queue's
//! consumer has an alarm on the first record it dead-letters. All of them notify
//! `AlarmActionArn`.

use std::collections::BTreeMap;

use orderflow_shared::edge::metrics::{DEAD_LETTERED, FAILED, NAMESPACE, PROCESSED};
use orderflow_shared::topology::TOPOLOGY;
use serde_yaml::Value;

use super::{ids_of_type, props, refs_anywhere, resource, resources, type_of};

/// One metric as the template names it: its name and its dimensions.
#[derive(Debug)]
struct Metric {
    name: String,
    dimensions: BTreeMap<String, String>,
}

impl Metric {
    fn of(&self, function: &str) -> bool {
        self.dimensions.get("function").map(String::as_str) == Some(function)
    }
}

/// A dashboard body's text: a plain string or the string of `!Sub` (its `${...}` are
/// inside JSON strings, so the text parses as JSON as it is).
fn text_of(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(t) => t.value.as_str(),
        Value::Mapping(m) => m.get("Fn::Sub").and_then(Value::as_str),
        other => other.as_str(),
    }
}

/// Every metric of every widget of every dashboard, with the `"."` shorthand (the same
/// as the row above) expanded.
fn dashboard_metrics() -> Vec<Metric> {
    let mut out = Vec::new();
    for id in ids_of_type("AWS::CloudWatch::Dashboard") {
        let body = resource(&id).and_then(|r| props(r).get("DashboardBody")).and_then(text_of);
        let body = body.unwrap_or_else(|| panic!("{id}: no DashboardBody string"));
        let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{id}: {e}"));
        for widget in body["widgets"].as_array().into_iter().flatten() {
            let mut previous: Vec<String> = Vec::new();
            for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
                let parts: Vec<String> = row
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str())
                    .enumerate()
                    .map(|(i, p)| if p == "." { previous.get(i).cloned().unwrap_or_default() } else { p.to_owned() })
                    .collect();
                if parts.first().map(String::as_str) == Some(NAMESPACE) && parts.len() >= 2 {
                    let dimensions =
                        parts[2..].chunks(2).filter_map(|kv| Some((kv.first()?.clone(), kv.get(1)?.clone())));
                    out.push(Metric { name: parts[1].clone(), dimensions: dimensions.collect() });
                }
                previous = parts;
            }
        }
    }
    out
}

fn metric_of(node: &Value) -> Option<Metric> {
    if node.get("Namespace").and_then(Value::as_str) != Some(NAMESPACE) {
        return None;
    }
    let dimensions = node
        .get("Dimensions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d.get("Name")?.as_str()?.to_owned(), d.get("Value")?.as_str()?.to_owned())));
    Some(Metric { name: node.get("MetricName")?.as_str()?.to_owned(), dimensions: dimensions.collect() })
}

/// An `AWS::CloudWatch::Alarm` on `orderflow` metrics: the metric it watches, or the
/// metrics of its metric-math expression and the expression.
struct Alarm {
    id: String,
    metrics: Vec<Metric>,
    expression: Option<String>,
    props: &'static Value,
}

fn alarms() -> Vec<Alarm> {
    let mut out = Vec::new();
    for (id, r) in resources() {
        if type_of(r) != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = props(r);
        let queries = p.get("Metrics").and_then(Value::as_sequence);
        let mut metrics: Vec<Metric> = queries
            .into_iter()
            .flatten()
            .filter_map(|q| q.get("MetricStat")?.get("Metric"))
            .filter_map(metric_of)
            .collect();
        metrics.extend(metric_of(p));
        let expression = queries.into_iter().flatten().find_map(|q| q.get("Expression")?.as_str().map(str::to_owned));
        if !metrics.is_empty() {
            out.push(Alarm { id: id.as_str().unwrap_or_default().to_owned(), metrics, expression, props: p });
        }
    }
    out
}

fn notifies(alarm: &Alarm) -> bool {
    alarm.props.get("AlarmActions").is_some_and(|a| refs_anywhere(a, "AlarmActionArn"))
}

#[test]
fn every_function_is_on_the_dashboard_and_has_a_failure_rate_alarm() {
    let shown = dashboard_metrics();
    assert!(!shown.is_empty(), "template.yaml has no AWS::CloudWatch::Dashboard with orderflow metrics");
    let alarms = alarms();
    for f in TOPOLOGY.functions {
        for name in [PROCESSED, FAILED] {
            assert!(shown.iter().any(|m| m.name == name && m.of(f.name)), "{}: {name} is not on the dashboard", f.name);
        }
        let rate = alarms.iter().find(|a| {
            [PROCESSED, FAILED].iter().all(|name| a.metrics.iter().any(|m| m.name == *name && m.of(f.name)))
                && a.expression.as_deref().is_some_and(|e| e.contains('/'))
        });
        let rate = rate.unwrap_or_else(|| panic!("{}: no alarm on failed / (failed + processed)", f.name));
        assert!(notifies(rate), "{}: AlarmActions must notify !Ref AlarmActionArn", rate.id);
    }
}

#[test]
fn every_queue_consumer_alarms_on_its_first_dead_lettered_record() {
    let alarms = alarms();
    for q in TOPOLOGY.queues {
        let alarm = alarms.iter().find(|a| {
            a.metrics.iter().any(|m| {
                m.name == DEAD_LETTERED
                    && m.of(q.consumer)
                    && m.dimensions.get("queue").map(String::as_str) == Some(q.name)
            })
        });
        let alarm = alarm.unwrap_or_else(|| panic!("{}: no alarm on {DEAD_LETTERED} of {}", q.name, q.consumer));
        assert_eq!(
            alarm.props.get("ComparisonOperator").and_then(Value::as_str),
            Some("GreaterThanThreshold"),
            "{}",
            alarm.id
        );
        assert_eq!(alarm.props.get("Threshold").and_then(Value::as_f64), Some(0.0), "{}", alarm.id);
        assert!(notifies(alarm), "{}: AlarmActions must notify !Ref AlarmActionArn", alarm.id);
    }
}
