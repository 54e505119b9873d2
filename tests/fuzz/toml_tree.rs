//! The rules file as a [`J`] tree, so the JSON mutations apply to it, and back; and
//! what a mutation changed, by key path.

use serde_json::Value;

use crate::json::{show, J};

pub fn toml_to_j(value: &toml::Value) -> J {
    match value {
        toml::Value::String(s) => J::Str(s.clone()),
        toml::Value::Array(items) => J::Arr(items.iter().map(toml_to_j).collect()),
        toml::Value::Table(t) => J::Obj(t.iter().map(|(k, v)| (k.clone(), toml_to_j(v))).collect()),
        other => J::Raw(other.to_string()),
    }
}

/// TOML has no null (the key is dropped) and no duplicate keys (the last wins).
pub fn j_to_toml(j: &J) -> Option<toml::Value> {
    Some(match j {
        J::Str(s) => toml::Value::String(s.clone()),
        J::Arr(items) => toml::Value::Array(items.iter().filter_map(j_to_toml).collect()),
        J::Obj(entries) => {
            toml::Value::Table(entries.iter().filter_map(|(k, v)| Some((k.clone(), j_to_toml(v)?))).collect())
        }
        J::Raw(raw) => match (raw.parse::<i64>(), raw.parse::<f64>(), raw.parse::<bool>()) {
            (Ok(i), _, _) => toml::Value::Integer(i),
            (_, Ok(f), _) => toml::Value::Float(f),
            (_, _, Ok(b)) => toml::Value::Boolean(b),
            _ => match serde_json::from_str::<Value>(raw) {
                Ok(Value::Null) => return None,
                Ok(v) => return j_to_toml(&J::from_value(&v)),
                Err(_) => toml::Value::String(raw.clone()),
            },
        },
    })
}

/// Every difference between `before` and `after`, as `path = value` (values shown
/// short), `path removed` or `path added = value`.
pub fn changes(before: &J, after: &J) -> Vec<String> {
    let mut out = Vec::new();
    diff("", before, after, &mut out);
    out.truncate(20);
    out
}

fn diff(path: &str, before: &J, after: &J, out: &mut Vec<String>) {
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (before, after) {
        (J::Obj(a), J::Obj(b)) => {
            for (key, value) in b {
                match a.iter().find(|(k, _)| k == key) {
                    Some((_, old)) => diff(&at(key), old, value, out),
                    None => out.push(format!("{} added = {}", at(key), show(value.text().as_bytes()))),
                }
            }
            let removed = a.iter().filter(|(k, _)| !b.iter().any(|(key, _)| key == k));
            out.extend(removed.map(|(k, _)| format!("{} removed", at(k))));
        }
        (J::Arr(a), J::Arr(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().for_each(|(i, (x, y))| diff(&format!("{path}[{i}]"), x, y, out));
        }
        (a, b) if a != b => out.push(format!("{path} = {}", show(b.text().as_bytes()))),
        _ => {}
    }
}
