//! SNS subscription filter policies over message attributes: exact strings, `prefix`,
//! `anything-but` and `exists`. Keys are ANDed; the values of one key are ORed.

use std::collections::BTreeMap;

use serde_json::Value;

/// Whether a message with `attributes` passes `policy` (a JSON object). An unreadable
/// policy passes nothing, as SNS would have refused to store it.
pub fn matches(policy: &str, attributes: &BTreeMap<String, String>) -> bool {
    let Ok(Value::Object(policy)) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    policy.iter().all(|(name, allowed)| {
        let value = attributes.get(name).map(String::as_str);
        match allowed {
            Value::Array(options) => options.iter().any(|o| option_matches(o, value)),
            single => option_matches(single, value),
        }
    })
}

fn option_matches(option: &Value, value: Option<&str>) -> bool {
    match option {
        Value::String(s) => value == Some(s.as_str()),
        Value::Object(op) => op.iter().all(|(kind, arg)| match (kind.as_str(), arg) {
            ("exists", Value::Bool(want)) => value.is_some() == *want,
            ("prefix", Value::String(p)) => value.is_some_and(|v| v.starts_with(p.as_str())),
            ("anything-but", Value::String(s)) => value.is_some_and(|v| v != s),
            ("anything-but", Value::Array(list)) => value.is_some_and(|v| !list.iter().any(|s| s.as_str() == Some(v))),
            _ => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn exact_values_are_ored_and_keys_anded() {
        let p = r#"{"type": ["audit.failed", "audit.passed"], "team": ["ops"]}"#;
        assert!(matches(p, &attrs(&[("type", "audit.passed"), ("team", "ops")])));
        assert!(!matches(p, &attrs(&[("type", "audit.passed")])));
        assert!(!matches(p, &attrs(&[("type", "x"), ("team", "ops")])));
    }

    #[test]
    fn operators_prefix_anything_but_exists() {
        assert!(matches(r#"{"type": [{"prefix": "order."}]}"#, &attrs(&[("type", "order.dispatched")])));
        assert!(matches(r#"{"type": [{"anything-but": ["a"]}]}"#, &attrs(&[("type", "b")])));
        assert!(!matches(r#"{"type": [{"anything-but": "b"}]}"#, &attrs(&[("type", "b")])));
        assert!(matches(r#"{"team": [{"exists": false}]}"#, &attrs(&[])));
        assert!(!matches("not json", &attrs(&[])));
    }
}
