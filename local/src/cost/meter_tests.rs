//! The size and unit arithmetic against the Developer Guide's rules and examples.

use orderflow_shared::ports::{Index, Item, Key};
use serde_json::{json, Value};

use super::*;
use crate::cost::proxy::{Call, Service};

fn image(value: Value) -> Image {
    value.as_object().cloned().expect("an object")
}

fn call(operation: &str, request: Value, response: Value, ok: bool) -> Call {
    Call { service: Service::DynamoDb, operation: operation.into(), ok, request, response }
}

#[test]
fn sizes_follow_the_documented_rules_per_type() {
    // Strings: name bytes + UTF-8 value bytes ("é" is 2).
    assert_eq!(item_size(&image(json!({"pk": {"S": "é"}}))), 2 + 2);
    // Numbers: name + 1 byte per 2 significant digits (zeros trimmed) + 1.
    assert_eq!(item_size(&image(json!({"n": {"N": "12345"}}))), 1 + 3 + 1);
    assert_eq!(item_size(&image(json!({"n": {"N": "-0.0012300"}}))), 1 + 2 + 1);
    // Booleans and nulls: name + 1.
    assert_eq!(item_size(&image(json!({"ok": {"BOOL": true}, "no": {"NULL": true}}))), 3 + 3);
    // Binary: the raw bytes, not the base64 text ("aGk=" is "hi").
    assert_eq!(item_size(&image(json!({"b": {"B": "aGk="}}))), 1 + 2);
    // Maps and lists: 3 bytes, plus 1 per element, plus the elements.
    let nested = json!({"m": {"M": {"a": {"S": "xy"}}}, "l": {"L": [{"S": "z"}, {"N": "7"}]}});
    assert_eq!(item_size(&image(nested)), (1 + 3 + 1 + 1 + 2) + (1 + 3 + 1 + 1 + 1 + 2));
}

#[test]
fn an_item_as_the_adapter_writes_it_weighs_what_item_stored_size_says() {
    let mut item = Item::new(Key::new("ORDER#o-1", "ORDER"), r#"{"status":"DISPATCHED","é":1}"#.into())
        .with_index(Index::Gsi1, "CUSTOMER#c-1", "2026-11-22T10:00:00.000000Z#o-1")
        .with_index(Index::Gsi2, "DUE#07", "2026-11-22T10:05:00.000000Z#o-1");
    item.expires_at = Some(1_796_000_000);
    let written = image(json!({
        "pk": {"S": "ORDER#o-1"}, "sk": {"S": "ORDER"}, "version": {"N": "12"},
        "body": {"S": item.body}, "gsi1pk": {"S": "CUSTOMER#c-1"},
        "gsi1sk": {"S": "2026-11-22T10:00:00.000000Z#o-1"}, "gsi2pk": {"S": "DUE#07"},
        "gsi2sk": {"S": "2026-11-22T10:05:00.000000Z#o-1"}, "ttl": {"N": "1796000000"},
    }));
    assert_eq!(item_size(&written), item.stored_size(12));
}

#[test]
fn units_round_up_per_documented_examples() {
    // "A standard write request of a 3 KB item requires 3 WRU" (transactional: 6).
    assert_eq!(write_units(3 * 1024), 3);
    assert_eq!((write_units(1), write_units(1024), write_units(1025)), (1, 1, 2));
    // "A strongly consistent read of an 8 KB item requires 2 RRU, eventually consistent 1."
    assert_eq!((read_halves(8 * 1024, true), read_halves(8 * 1024, false)), (4, 2));
    // "Reading a 3,500-byte item consumes the same throughput as reading a 4 KB item";
    // nothing found still costs the minimum.
    assert_eq!((read_halves(3_500, true), read_halves(0, false)), (2, 1));
}

#[test]
fn index_writes_follow_what_happens_to_the_entry() {
    let base = json!({"pk": {"S": "ORDER#o-1"}, "sk": {"S": "ORDER"}, "body": {"S": "x".repeat(1500)}});
    let with = |due: &str| {
        let mut i = image(base.clone());
        i.insert("gsi2pk".into(), json!({"S": "DUE#01"}));
        i.insert("gsi2sk".into(), json!({"S": due}));
        i
    };
    let (plain, due_a, due_b) = (image(base.clone()), with("a"), with("b"));
    // Each image is 2 KB started: 2 units for the table; gsi2 holds keys only, so an
    // entry is 1 unit, written only when it appears, moves or goes.
    assert_eq!(item_write_units(None, Some(&plain)), 2);
    assert_eq!(item_write_units(None, Some(&due_a)), 2 + 1, "enters gsi2: one put");
    assert_eq!(item_write_units(Some(&due_a), Some(&due_a)), 2, "same index key: the entry is not written");
    assert_eq!(item_write_units(Some(&due_a), Some(&due_b)), 2 + 1 + 1, "index key moved: delete and put");
    assert_eq!(item_write_units(Some(&due_a), Some(&plain)), 2 + 1, "leaves gsi2: one delete");
    assert_eq!(item_write_units(Some(&due_a), None), 2 + 1, "deleted: the item and its entry");
}

#[test]
fn a_put_over_a_larger_item_costs_the_larger_and_a_failed_condition_the_existing() {
    let mut table = Table::default();
    let big = json!({"pk": {"S": "A"}, "sk": {"S": "B"}, "body": {"S": "x".repeat(3000)}});
    let small = json!({"pk": {"S": "A"}, "sk": {"S": "B"}, "body": {"S": "x"}});
    assert_eq!(table.apply(&call("PutItem", json!({"Item": big}), Value::Null, true)).wru, 3);
    assert_eq!(table.apply(&call("PutItem", json!({"Item": small}), Value::Null, true)).wru, 3);
    assert_eq!(table.apply(&call("PutItem", json!({"Item": small}), Value::Null, false)).wru, 1);
    let get = json!({"Key": {"pk": {"S": "A"}, "sk": {"S": "B"}}, "ConsistentRead": true});
    assert_eq!(table.apply(&call("GetItem", get, Value::Null, true)).rru_halves, 2);
}

#[test]
fn a_transaction_costs_twice_and_an_update_applies_its_expression() {
    let mut table = Table::default();
    let put = json!({"Put": {"Item": {"pk": {"S": "R"}, "sk": {"S": "R"}, "body": {"S": "x".repeat(1100)}}}});
    let update = json!({"Update": {
        "Key": {"pk": {"S": "L"}, "sk": {"S": "L"}},
        "UpdateExpression": "SET #v = if_not_exists(#v, :zero) + :one, #b = :b REMOVE #t",
        "ExpressionAttributeNames": {"#v": "version", "#b": "body", "#t": "ttl"},
        "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}, ":b": {"S": "y"}},
    }});
    let request = json!({"TransactItems": [put, update]});
    assert_eq!(table.apply(&call("TransactWriteItems", request, Value::Null, true)).wru, 2 * 2 + 2);
    // R and L (pk, sk, version 1, body "y") stay, with 100 bytes of overhead each.
    let (r_size, l_size) = (3 + 3 + 4 + 1100, 3 + 3 + (7 + 2) + (4 + 1));
    assert_eq!(table.kept_bytes(), r_size + 100 + l_size + 100);
}
