//! DynamoDB's item sizes and request units, applied to the requests the proxy recorded
//! (Developer Guide, "DynamoDB item sizes and formats" and "DynamoDB read and write
//! operations"; "Global secondary indexes: provisioned throughput considerations").
//!
//! The meter keeps the table as the requests left it, because a write costs the larger
//! of the item before and after it, and an index write depends on the index keys the
//! item had before: an entry put (the item enters the index), deleted (it leaves), updated
//! (same index key), or deleted and put again (the index key changed).

use std::collections::HashMap;

use orderflow_shared::ports::layout::{PK, SK, TTL};
use orderflow_shared::ports::{number_attribute_size, string_attribute_size, Index};
use serde_json::{json, Map, Value};

use super::proxy::Call;

/// An item in DynamoDB's JSON (`{"pk": {"S": "ORDER#o-1"}, ...}`).
pub type Image = Map<String, Value>;
type Key = (String, String);

const WRITE_UNIT_BYTES: usize = 1024;
const READ_UNIT_BYTES: usize = 4096;
/// Storage DynamoDB bills per item and per index entry beyond its attributes.
const STORED_OVERHEAD_BYTES: usize = 100;

/// What one request consumed; reads in half units (an eventually consistent read of up
/// to 4 KB is half a unit).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Consumed {
    pub wru: u64,
    pub rru_halves: u64,
    /// Of `wru`, what each index's entries took.
    pub index_wru: IndexUnits,
}

/// Write units per index, in [`Index::ALL`] order.
pub type IndexUnits = [u64; Index::ALL.len()];

/// The sum of the item's attributes: each the UTF-8 bytes of its name and its value.
pub fn item_size(item: &Image) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let texts = || v.as_array().into_iter().flatten().filter_map(Value::as_str);
    match (kind.as_str(), v) {
        ("S", Value::String(s)) => string_attribute_size("", s),
        ("N", Value::String(n)) => number_attribute_size("", n),
        ("B", Value::String(b)) => base64_bytes(b),
        ("BOOL" | "NULL", _) => 1,
        ("SS", _) => texts().map(str::len).sum(),
        ("NS", _) => texts().map(|n| number_attribute_size("", n)).sum(),
        ("BS", _) => texts().map(base64_bytes).sum(),
        // 3 bytes per list or map, 1 per element.
        ("L", Value::Array(a)) => 3 + a.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        ("M", Value::Object(m)) => 3 + m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => 0,
    }
}

fn base64_bytes(text: &str) -> usize {
    text.trim_end_matches('=').len() * 3 / 4
}

/// Standard write units for `bytes`: 1 per KB started, at least 1.
pub fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as u64
}

/// Read half units for `bytes`: 1 per 4 KB started (at least 1) when eventually
/// consistent, 2 when strongly consistent.
pub fn read_halves(bytes: usize, consistent: bool) -> u64 {
    let units = bytes.div_ceil(READ_UNIT_BYTES).max(1) as u64;
    if consistent {
        2 * units
    } else {
        units
    }
}

/// Write units of replacing `old` by `new` (either absent): the table's, at the larger
/// of the two, plus each index's. An index that projects all attributes (`gsi2`) holds
/// entries as large as their items and is written whenever its item is; a keys-only
/// index (`gsi1`) holds only the keys, and an update that keeps its key leaves it alone.
pub fn item_write_units(old: Option<&Image>, new: Option<&Image>) -> u64 {
    let (old_size, new_size) = (old.map_or(0, item_size), new.map_or(0, item_size));
    write_units(old_size.max(new_size)) + index_write_units(old, new).iter().sum::<u64>()
}

/// The index part of [`item_write_units`], per index: nothing for an index whose keys
/// the item has neither before nor after (a sparse index it is not in).
pub fn index_write_units(old: Option<&Image>, new: Option<&Image>) -> IndexUnits {
    Index::ALL.map(|index| {
        let entry = |image: Option<&Image>| image.map_or(0, |i| entry_size(index, i));
        match (old.and_then(|i| index_key(index, i)), new.and_then(|i| index_key(index, i))) {
            (None, None) => 0,
            (Some(before), Some(after)) if before == after && index.keys_only() => 0,
            (None, Some(_)) => write_units(entry(new)),
            (Some(_), None) => write_units(entry(old)),
            (Some(before), Some(after)) if before == after => write_units(entry(new)),
            (Some(_), Some(_)) => write_units(entry(old)) + write_units(entry(new)),
        }
    })
}

/// The size of `image`'s entry in `index`: the whole item, or for a keys-only index the
/// table and index keys alone.
fn entry_size(index: Index, image: &Image) -> usize {
    if !index.keys_only() {
        return item_size(image);
    }
    let (ipk, isk) = index.key_attributes();
    let keys = ["pk", "sk", ipk.as_str(), isk.as_str()];
    image.iter().filter(|(name, _)| keys.contains(&name.as_str())).map(|(n, v)| n.len() + value_size(v)).sum()
}

fn index_key(index: Index, image: &Image) -> Option<(&Value, &Value)> {
    let (pk, sk) = index.key_attributes();
    Some((image.get(&pk)?, image.get(&sk)?))
}

/// What a write leaves at its key.
enum After {
    Item(Image),
    Gone,
    /// A transaction's condition check: reads, writes nothing.
    Unchanged,
}

/// The table as the recorded requests left it.
#[derive(Default)]
pub struct Table {
    items: HashMap<Key, Image>,
}

impl Table {
    /// Applies one request, returning what it consumed. A write whose condition failed
    /// consumes units for the item it found (at least 1) and changes nothing; a
    /// transaction costs twice its items' writes.
    pub fn apply(&mut self, call: &Call) -> Consumed {
        let (r, ok) = (&call.request, call.ok);
        let consistent = r["ConsistentRead"] == Value::Bool(true);
        match call.operation.as_str() {
            "PutItem" | "UpdateItem" | "DeleteItem" => {
                let kind = call.operation.trim_end_matches("Item");
                self.write(kind, r, Some(&call.response["Attributes"]), ok)
            }
            "TransactWriteItems" => {
                let items = r["TransactItems"].as_array().into_iter().flatten();
                let actions = items.filter_map(|i| i.as_object()?.iter().next());
                let mut consumed = Consumed::default();
                for (kind, body) in actions {
                    let one = self.write(kind, body, None, ok);
                    consumed.wru += 2 * one.wru;
                    for (sum, units) in consumed.index_wru.iter_mut().zip(one.index_wru) {
                        *sum += 2 * units;
                    }
                }
                consumed
            }
            "GetItem" => {
                let stored = key_of(&object(&r["Key"])).and_then(|k| self.items.get(&k)).map(item_size);
                let size = stored.unwrap_or_else(|| item_size(&object(&call.response["Item"])));
                Consumed { rru_halves: read_halves(size, consistent), ..Consumed::default() }
            }
            "Query" => {
                let items = call.response["Items"].as_array().into_iter().flatten();
                let size = items.map(|i| item_size(&object(i))).sum();
                Consumed { rru_halves: read_halves(size, consistent), ..Consumed::default() }
            }
            _ => Consumed::default(),
        }
    }

    fn write(&mut self, kind: &str, body: &Value, returned: Option<&Value>, ok: bool) -> Consumed {
        let Some((key, after)) = self.after(kind, body, returned) else { return Consumed::default() };
        let old = self.items.get(&key);
        let table_only = |wru| Consumed { wru, ..Consumed::default() };
        if !ok {
            return table_only(write_units(old.map_or(0, item_size)));
        }
        let new = match after {
            After::Item(new) => Some(new),
            After::Gone => None,
            After::Unchanged => return table_only(write_units(old.map_or(0, item_size))),
        };
        let consumed = Consumed {
            wru: item_write_units(old, new.as_ref()),
            rru_halves: 0,
            index_wru: index_write_units(old, new.as_ref()),
        };
        match new {
            Some(new) => self.items.insert(key, new),
            None => self.items.remove(&key),
        };
        consumed
    }

    fn after(&self, kind: &str, body: &Value, returned: Option<&Value>) -> Option<(Key, After)> {
        if kind == "Put" {
            let item = object(&body["Item"]);
            return Some((key_of(&item)?, After::Item(item)));
        }
        let key_attrs = object(&body["Key"]);
        let key = key_of(&key_attrs)?;
        let after = match kind {
            "Update" => {
                let mut image = self.items.get(&key).cloned().unwrap_or(key_attrs);
                apply_update(&mut image, body);
                // `ReturnValues: UPDATED_NEW` has the exact new values (the version).
                if let Some(Value::Object(attrs)) = returned {
                    image.extend(attrs.clone());
                }
                After::Item(image)
            }
            "Delete" => After::Gone,
            _ => After::Unchanged,
        };
        Some((key, after))
    }

    /// Bytes the table keeps once the flow is over: items that never expire and their
    /// index entries, each with DynamoDB's 100 bytes of overhead.
    pub fn kept_bytes(&self) -> u64 {
        let kept = self.items.values().filter(|i| !i.contains_key(TTL));
        let bytes = kept.map(|item| {
            let indexed = Index::ALL.iter().filter(|&&index| index_key(index, item).is_some());
            let entries: usize = indexed.map(|&index| entry_size(index, item) + STORED_OVERHEAD_BYTES).sum();
            item_size(item) + STORED_OVERHEAD_BYTES + entries
        });
        bytes.sum::<usize>() as u64
    }
}

/// Applies `SET a = :v, ...` and `REMOVE a, ...` of an update expression. A SET from an
/// expression rather than a value (`if_not_exists(#v, :zero) + :one`) keeps the old
/// value, or counts as the number 1; UpdateItem's returned values correct it.
fn apply_update(image: &mut Image, body: &Value) {
    let Some(expression) = body["UpdateExpression"].as_str() else { return };
    let name = |token: &str| body["ExpressionAttributeNames"][token].as_str().unwrap_or(token).to_string();
    let (set, remove) = expression.split_once("REMOVE ").unwrap_or((expression, ""));
    for clause in split_outside_parentheses(set.trim().trim_start_matches("SET ")) {
        let Some((target, value)) = clause.split_once('=') else { continue };
        match body["ExpressionAttributeValues"].get(value.trim()) {
            Some(value) => {
                image.insert(name(target.trim()), value.clone());
            }
            None => {
                image.entry(name(target.trim())).or_insert_with(|| json!({"N": "1"}));
            }
        }
    }
    for target in remove.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        image.remove(&name(target));
    }
}

fn split_outside_parentheses(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn key_of(item: &Image) -> Option<Key> {
    Some((item.get(PK)?["S"].as_str()?.to_string(), item.get(SK)?["S"].as_str()?.to_string()))
}

fn object(value: &Value) -> Image {
    value.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
#[path = "meter_tests.rs"]
mod tests;
