//! One [`Write`] as a DynamoDB request (see the parent module's docs): single writes and
//! transactions share this translation.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{index_attrs, key_attrs, Attrs, Expr, BODY, OUTBOX, TTL, VERSION};
use crate::error::StoreError;
use crate::ports::{Condition, Index, Item, Write};

/// What a write does to the table.
pub(super) enum Action {
    /// PutItem of the whole item, at the version its condition implies.
    Put {
        item: Attrs,
        version: u64,
    },
    /// UpdateItem that numbers the version itself (an unconditional put).
    Update {
        key: Attrs,
        update: String,
    },
    Delete {
        key: Attrs,
    },
}

/// A request's condition with the expression names and values it and the update use.
pub(super) struct Expressions {
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<Attrs>,
}

/// Translates a write, refusing a put whose item would not fit DynamoDB's item size
/// limit. An unconditional put's version is not known before DynamoDB numbers it; it
/// is checked at version 1, and DynamoDB has the last word on the few bytes more.
pub(super) fn op(write: Write) -> Result<(Action, Expressions), StoreError> {
    let mut expr = Expr::default();
    let (action, condition) = match write {
        Write::Put { item, condition: Condition::Always } => {
            item.check_size(1)?;
            (Action::Update { key: key_attrs(&item.key), update: put_update(&mut expr, &item) }, Condition::Always)
        }
        Write::Put { item, condition } => {
            let version = match condition {
                Condition::VersionIs(v) => v.checked_add(1).ok_or_else(|| {
                    StoreError::Backend(format!("version {v} of {}/{} cannot grow", item.key.pk, item.key.sk))
                })?,
                Condition::NotExists | Condition::Always => 1,
            };
            item.check_size(version)?;
            (Action::Put { item: item_attrs(&item, version), version }, condition)
        }
        Write::Delete { key, condition } => (Action::Delete { key: key_attrs(&key) }, condition),
    };
    let condition = expr.condition(condition);
    // DynamoDB rejects empty name/value maps (an unconditional delete has neither).
    let names = (!expr.names.is_empty()).then_some(expr.names);
    let values = (!expr.values.is_empty()).then_some(expr.values);
    Ok((action, Expressions { condition, names, values }))
}

/// Every attribute of the item as stored at `version`: what [`Item::stored_size`]
/// counts, and what the parent's `decode` reads back.
pub(super) fn item_attrs(item: &Item, version: u64) -> Attrs {
    let mut attrs = key_attrs(&item.key);
    attrs.insert(VERSION.to_string(), AttributeValue::N(version.to_string()));
    attrs.insert(BODY.to_string(), AttributeValue::S(item.body.clone()));
    for (index, key) in &item.index_keys {
        let (ipk, isk) = index_attrs(*index);
        attrs.insert(ipk, AttributeValue::S(key.pk.clone()));
        attrs.insert(isk, AttributeValue::S(key.sk.clone()));
    }
    if let Some(at) = item.expires_at {
        attrs.insert(TTL.to_string(), AttributeValue::N(at.to_string()));
    }
    if let Some(outbox) = item.outbox_bytes() {
        attrs.insert(OUTBOX.to_string(), AttributeValue::B(Blob::new(outbox.to_vec())));
    }
    attrs
}

/// The update expression of an unconditional put (see the parent module's docs).
fn put_update(expr: &mut Expr, item: &Item) -> String {
    let version = expr.name(VERSION);
    let (zero, one) =
        (expr.value("zero", AttributeValue::N("0".into())), expr.value("one", AttributeValue::N("1".into())));
    let mut set = vec![format!("{version} = if_not_exists({version}, {zero}) + {one}")];
    set.push(format!("{} = {}", expr.name(BODY), expr.value(BODY, AttributeValue::S(item.body.clone()))));
    let mut remove = Vec::new();
    for index in Index::ALL {
        let (ipk, isk) = index_attrs(index);
        match item.index_keys.get(&index) {
            Some(k) => {
                set.push(format!("{} = {}", expr.name(&ipk), expr.value(&ipk, AttributeValue::S(k.pk.clone()))));
                set.push(format!("{} = {}", expr.name(&isk), expr.value(&isk, AttributeValue::S(k.sk.clone()))));
            }
            None => remove.extend([expr.name(&ipk), expr.name(&isk)]),
        }
    }
    match item.expires_at {
        Some(at) => set.push(format!("{} = {}", expr.name(TTL), expr.value(TTL, AttributeValue::N(at.to_string())))),
        None => remove.push(expr.name(TTL)),
    }
    match item.outbox_bytes() {
        Some(outbox) => set.push(format!(
            "{} = {}",
            expr.name(OUTBOX),
            expr.value(OUTBOX, AttributeValue::B(Blob::new(outbox.to_vec())))
        )),
        None => remove.push(expr.name(OUTBOX)),
    }
    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    update
}
