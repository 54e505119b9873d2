//! Everything published, read once: for each order, the distinct message ids of each
//! effect type (with the detail the checker compares: a command's system, a re-audit's
//! attempt, a refund's amount), and for each id the canonical form of its body, so an
//! id published twice with two bodies is found.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use orderflow_shared::adapters::embedded::Published;
use orderflow_shared::topology::AUDIT_RESULTS;
use serde_json::Value;

use super::Violation;
use crate::runtime::Runtime;

/// Effect type → message id → detail.
pub type Effects = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicCount {
    pub topic: &'static str,
    pub records: usize,
    pub ids: usize,
}

#[derive(Default)]
pub struct Digest {
    pub effects: HashMap<String, Effects>,
    pub topics: Vec<TopicCount>,
    pub violations: Vec<Violation>,
    /// Body hash and topic of every id seen.
    bodies: HashMap<String, (u64, &'static str)>,
}

impl Digest {
    /// Reads every topic of the runtime. Audit results are the run's own inputs: their
    /// bodies are compared, their types not counted as effects.
    pub async fn read(rt: &Runtime) -> Result<Digest, String> {
        let mut digest = Digest::default();
        for topic in rt.topology.topics {
            let published = rt.published(topic.name).await?.unwrap_or_default();
            let before = digest.bodies.len();
            for record in &published {
                digest.add(topic.name, record);
            }
            let ids = digest.bodies.len() - before;
            digest.topics.push(TopicCount { topic: topic.name, records: published.len(), ids });
        }
        Ok(digest)
    }

    fn add(&mut self, topic: &'static str, record: &Published) {
        let body = &record.message;
        let order = body["data"]["order_id"].as_str().or(body["subject"].as_str()).unwrap_or_default().to_string();
        let Some(id) = body["id"].as_str() else {
            self.violations.push(Violation::order(&order, format!("a message on {topic} has no id: {body}")));
            return;
        };
        let hash = canonical_hash(body);
        match self.bodies.get(id) {
            Some((seen, on)) if *seen != hash => {
                let what = format!("message id {id} was published with two different bodies (on {on} and {topic})");
                self.violations.push(Violation::order(&order, what));
            }
            Some(_) => {}
            None => {
                self.bodies.insert(id.to_string(), (hash, topic));
            }
        }
        if topic == AUDIT_RESULTS {
            return;
        }
        let kind = record.attributes.get("type").map(String::as_str).or(body["type"].as_str()).unwrap_or_default();
        let detail = match kind {
            "fulfilment.trigger" | "fulfilment.cancel" => record.attributes.get("system").cloned().unwrap_or_default(),
            "audit.requested" => body["data"]["attempt"].to_string(),
            "refund.issued" => body["data"]["amount"].as_str().unwrap_or_default().to_string(),
            _ => body["data"]["refund_id"].as_str().unwrap_or_default().to_string(),
        };
        let effects = self.effects.entry(order).or_default();
        effects.entry(kind.to_string()).or_default().insert(id.to_string(), detail);
    }
}

/// A hash of the body with every object's keys sorted, so two encodings of the same
/// JSON hash alike whatever the key order.
pub fn canonical_hash(value: &Value) -> u64 {
    let mut text = String::new();
    canonical(value, &mut text);
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_hash;

    #[test]
    fn the_canonical_hash_ignores_key_order_only() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":[1,2],"d":"x"}}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":{"d":"x","c":[1,2]},"a":1}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"b":{"d":"x","c":[2,1]},"a":1}"#).unwrap();
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&c));
    }
}
