//! [`StateStore`] on one DynamoDB table.
//!
//! Item layout: string `pk`/`sk` (table key), number `version`, string `body` (the
//! entity's JSON), strings `gsiNpk`/`gsiNsk` only when the item is in index `gsiN`,
//! number `ttl` (epoch seconds, the table's TTL attribute) only when it expires, and
//! binary `outbox` (the write's messages, a deflated JSON list: [`crate::ports::encode_outbox`])
//! only when the write has some; the outbox relay reads it from the table's stream.
//!
//! A conditional `Put` (`NotExists`, `VersionIs(v)`) is a PutItem of the whole item at
//! the version its condition implies (1, v + 1). An unconditional one is an UpdateItem
//! that sets `version = if_not_exists(version, 0) + 1`, so the store numbers versions
//! itself with no read, and removes absent optional attributes so the result equals a
//! whole-item put. A whole-item PutItem is measured against the 400 KB item size limit
//! as the new item alone, by DynamoDB and by moto alike (moto counts an UpdateItem that
//! replaces `body` as the old and the new body together). Every put is first checked
//! with [`Item::check_size`], so an item too large fails as it does on the embedded
//! store, before any request.
//!
//! Pagination: `Page.next` is the table key of the last item (the port's contract), but
//! a GSI's ExclusiveStartKey also needs that item's index key. The store remembers the
//! index position of every `next` it hands out (from DynamoDB's LastEvaluatedKey), so a
//! continuation is exact even when the anchor item was moved in or removed from the index
//! meanwhile (the scheduler reschedules what it just read). An `after` the store did not
//! hand out (another process, or the bounded memory was cleared) falls back to a
//! consistent GetItem of the anchor's current index key; if the anchor has left the
//! queried partition by then, the query fails with [`StoreError::Backend`] and the
//! caller starts over.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use crate::error::StoreError;
use crate::ports::layout::{BODY, OUTBOX, PK, SK, TTL, VERSION};
use crate::ports::{Condition, Index, IndexQuery, Item, Key, Page, StateStore, Write};

#[path = "dynamodb_write.rs"]
mod write;
use write::{op, Action, Expressions};

type Attrs = HashMap<String, AttributeValue>;
/// Remembered page cursors; past this the memory is cleared (continuations then fall
/// back to a GetItem), so abandoned paginations cannot grow it without bound.
const MAX_CURSORS: usize = 1024;

/// The state store on the table named by the topology's `table_env`.
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Index position (`gsiNpk`, `gsiNsk`) of each `Page.next` handed out.
    cursors: Mutex<HashMap<(Index, Key), (String, String)>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: String) -> Self {
        DynamoStore { client, table, cursors: Mutex::new(HashMap::new()) }
    }

    async fn put_item(&self, item: Attrs, version: u64, exprs: Expressions) -> Result<u64, StoreError> {
        (self.client.put_item().table_name(&self.table).set_item(Some(item)))
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .send()
            .await
            .map_err(|e| {
                let failed = e.as_service_error().is_some_and(PutItemError::is_conditional_check_failed_exception);
                condition_or_backend(failed, &e)
            })?;
        Ok(version)
    }

    async fn update_item(&self, key: Attrs, update: String, exprs: Expressions) -> Result<u64, StoreError> {
        let out = (self.client.update_item().table_name(&self.table).set_key(Some(key)))
            .update_expression(update)
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| {
                let failed = e.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception);
                condition_or_backend(failed, &e)
            })?;
        let attrs = out.attributes().ok_or_else(|| StoreError::Backend("UpdateItem returned no attributes".into()))?;
        number(attrs, VERSION)
    }

    async fn delete_item(&self, key: Attrs, exprs: Expressions) -> Result<u64, StoreError> {
        (self.client.delete_item().table_name(&self.table).set_key(Some(key)))
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .send()
            .await
            .map_err(|e| {
                let failed = e.as_service_error().is_some_and(DeleteItemError::is_conditional_check_failed_exception);
                condition_or_backend(failed, &e)
            })?;
        Ok(0)
    }

    fn transact_item(&self, (action, exprs): (Action, Expressions)) -> Result<TransactWriteItem, StoreError> {
        let Expressions { condition, names, values } = exprs;
        let item = match action {
            Action::Put { item, .. } => TransactWriteItem::builder().put(
                (Put::builder().table_name(&self.table).set_item(Some(item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(|e| backend(&e))?,
            ),
            Action::Update { key, update } => TransactWriteItem::builder().update(
                (Update::builder().table_name(&self.table).set_key(Some(key)).update_expression(update))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(|e| backend(&e))?,
            ),
            Action::Delete { key } => TransactWriteItem::builder().delete(
                (Delete::builder().table_name(&self.table).set_key(Some(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(|e| backend(&e))?,
            ),
        };
        Ok(item.build())
    }

    /// Reads `Page.next` from a LastEvaluatedKey and remembers its index position.
    fn remember_cursor(&self, index: Index, last: &Attrs) -> Result<Key, StoreError> {
        let (ipk, isk) = index_attrs(index);
        let key = Key::new(string(last, PK)?, string(last, SK)?);
        let position = (string(last, &ipk)?, string(last, &isk)?);
        let mut cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        if cursors.len() >= MAX_CURSORS {
            cursors.clear();
        }
        cursors.insert((index, key.clone()), position);
        Ok(key)
    }

    /// The ExclusiveStartKey that continues a query of `index` partition `pk` after `after`.
    async fn start_key(&self, index: Index, pk: &str, after: &Key) -> Result<Attrs, StoreError> {
        let remembered =
            self.cursors.lock().unwrap_or_else(PoisonError::into_inner).get(&(index, after.clone())).cloned();
        let position = match remembered.filter(|(p, _)| p == pk) {
            Some(position) => Some(position),
            None => self.current_position(index, after).await?.filter(|(p, _)| p == pk),
        };
        let (gpk, gsk) = position.ok_or_else(|| {
            let (name, key) = (index.name(), format!("{}/{}", after.pk, after.sk));
            StoreError::Backend(format!("cannot continue the {name} query after {key}: it left partition {pk}"))
        })?;
        let (ipk, isk) = index_attrs(index);
        let mut start = key_attrs(after);
        start.insert(ipk, AttributeValue::S(gpk));
        start.insert(isk, AttributeValue::S(gsk));
        Ok(start)
    }

    /// The stored item's current index key, if it is in that index.
    async fn current_position(&self, index: Index, key: &Key) -> Result<Option<(String, String)>, StoreError> {
        let (ipk, isk) = index_attrs(index);
        let out = (self.client.get_item().table_name(&self.table).set_key(Some(key_attrs(key))))
            .consistent_read(true)
            .projection_expression("#p, #s")
            .expression_attribute_names("#p", &ipk)
            .expression_attribute_names("#s", &isk)
            .send()
            .await
            .map_err(|e| backend(&e))?;
        match out.item() {
            Some(attrs) if attrs.contains_key(&ipk) => Ok(Some((string(attrs, &ipk)?, string(attrs, &isk)?))),
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = (self.client.get_item().table_name(&self.table).set_key(Some(key_attrs(key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(&e))?;
        out.item().map(decode).transpose()
    }

    async fn write(&self, write: Write) -> Result<u64, StoreError> {
        match op(write)? {
            (Action::Put { item, version }, exprs) => self.put_item(item, version, exprs).await,
            (Action::Update { key, update }, exprs) => self.update_item(key, update, exprs).await,
            (Action::Delete { key }, exprs) => self.delete_item(key, exprs).await,
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let items = writes.into_iter().map(|w| self.transact_item(op(w)?)).collect::<Result<Vec<_>, _>>()?;
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(|e| {
            let failed = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                }
                _ => false,
            };
            condition_or_backend(failed, &e)
        })?;
        Ok(())
    }

    /// `limit` 0 asks for nothing and gets an empty page; so does an empty sk range.
    async fn query(&self, query: IndexQuery) -> Result<Page, StoreError> {
        let empty_range = matches!((&query.sk_from, &query.sk_to), (Some(from), Some(to)) if from > to);
        if query.limit == 0 || empty_range {
            return Ok(Page::default());
        }
        let start = match &query.after {
            Some(after) => Some(self.start_key(query.index, &query.pk, after).await?),
            None => None,
        };
        let (condition, expr) = key_condition(query.index, query.pk, query.sk_from, query.sk_to);
        let out = (self.client.query().table_name(&self.table).index_name(query.index.name()))
            .key_condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .limit(i32::try_from(query.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| backend(&e))?;
        let index = query.index;
        let read = |attrs: &Attrs| if index.keys_only() { decode_keys(attrs, index) } else { decode(attrs) };
        let items = out.items().iter().map(read).collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key().map(|last| self.remember_cursor(query.index, last)).transpose()?;
        Ok(Page { items, next })
    }
}

/// The key condition of an index query (partition, optional inclusive sk bounds).
fn key_condition(index: Index, pk: String, from: Option<String>, to: Option<String>) -> (String, Expr) {
    let (ipk, isk) = index_attrs(index);
    let mut expr = Expr::default();
    let partition = format!("{} = {}", expr.name(&ipk), expr.value("pk", AttributeValue::S(pk)));
    let range = match (from, to) {
        (None, None) => return (partition, expr),
        (Some(from), Some(to)) => {
            let from = expr.value("from", AttributeValue::S(from));
            format!("BETWEEN {from} AND {}", expr.value("to", AttributeValue::S(to)))
        }
        (Some(from), None) => format!(">= {}", expr.value("from", AttributeValue::S(from))),
        (None, Some(to)) => format!("<= {}", expr.value("to", AttributeValue::S(to))),
    };
    let condition = format!("{partition} AND {} {range}", expr.name(&isk));
    (condition, expr)
}

fn projection(index: Index) -> ProjectionType {
    if index.keys_only() {
        ProjectionType::KeysOnly
    } else {
        ProjectionType::All
    }
}

/// Creates the table: `pk`/`sk` key, on-demand billing, `gsi1` and `gsi2` keys only
/// (see [`Index::keys_only`]), TTL on `ttl`, a stream of new and
/// old images. An existing table is left as it is, so provisioning can run again.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let mut request = (client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest))
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .attribute_definitions(string_attr(PK)?)
        .attribute_definitions(string_attr(SK)?)
        .stream_specification(stream_specification()?);
    for index in Index::ALL {
        let (ipk, isk) = index_attrs(index);
        let gsi = (GlobalSecondaryIndex::builder().index_name(index.name()))
            .key_schema(key_element(&ipk, KeyType::Hash)?)
            .key_schema(key_element(&isk, KeyType::Range)?)
            .projection(Projection::builder().projection_type(projection(index)).build())
            .build()
            .map_err(|e| backend(&e))?;
        request = request.attribute_definitions(string_attr(&ipk)?).attribute_definitions(string_attr(&isk)?);
        request = request.global_secondary_indexes(gsi);
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(CreateTableError::is_resource_in_use_exception) => return Ok(()),
        Err(e) => return Err(backend(&e)),
    }
    let waiter = client.wait_until_table_exists().table_name(table);
    waiter.wait(Duration::from_secs(120)).await.map_err(|e| backend(&e))?;
    let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL).build().map_err(|e| backend(&e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| backend(&e))?;
    Ok(())
}

/// The outbox relay reads the table's stream and compares each record's old and new
/// `outbox`, so it needs both images.
fn stream_specification() -> Result<StreamSpecification, StoreError> {
    let specification = StreamSpecification::builder().stream_enabled(true);
    specification.stream_view_type(StreamViewType::NewAndOldImages).build().map_err(|e| backend(&e))
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().map_err(|e| backend(&e))
}

fn string_attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    let definition = AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S);
    definition.build().map_err(|e| backend(&e))
}

/// The key attribute names of an index: `gsi1pk`/`gsi1sk` for `gsi1`.
fn index_attrs(index: Index) -> (String, String) {
    index.key_attributes()
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

fn backend(e: &impl std::error::Error) -> StoreError {
    StoreError::Backend(DisplayErrorContext(e).to_string())
}

fn condition_or_backend(condition_failed: bool, e: &impl std::error::Error) -> StoreError {
    if condition_failed {
        StoreError::ConditionFailed
    } else {
        backend(e)
    }
}

fn string(attrs: &Attrs, name: &str) -> Result<String, StoreError> {
    let value = attrs.get(name).and_then(|v| v.as_s().ok());
    value.cloned().ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing or not a string")))
}

fn number<T: FromStr>(attrs: &Attrs, name: &str) -> Result<T, StoreError> {
    let value = attrs.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
    value.ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing or not a valid number")))
}

/// An item of a keys-only index's query: its keys, version 0, an empty body.
fn decode_keys(attrs: &Attrs, index: Index) -> Result<Item, StoreError> {
    let (ipk, isk) = index_attrs(index);
    let mut item = Item::new(Key::new(string(attrs, PK)?, string(attrs, SK)?), String::new());
    item.version = 0;
    item.index_keys.insert(index, Key::new(string(attrs, &ipk)?, string(attrs, &isk)?));
    Ok(item)
}

fn decode(attrs: &Attrs) -> Result<Item, StoreError> {
    let mut index_keys = BTreeMap::new();
    for index in Index::ALL {
        let (ipk, isk) = index_attrs(index);
        if attrs.contains_key(&ipk) {
            index_keys.insert(index, Key::new(string(attrs, &ipk)?, string(attrs, &isk)?));
        }
    }
    let mut item = Item::new(Key::new(string(attrs, PK)?, string(attrs, SK)?), string(attrs, BODY)?);
    item.version = number(attrs, VERSION)?;
    item.index_keys = index_keys;
    item.expires_at = if attrs.contains_key(TTL) { Some(number(attrs, TTL)?) } else { None };
    match attrs.get(OUTBOX) {
        None => Ok(item),
        Some(value) => {
            let bytes = value.as_b().map_err(|_| StoreError::Corrupt(format!("attribute {OUTBOX} is not binary")))?;
            Ok(item.with_stored_outbox(bytes.as_ref().to_vec()))
        }
    }
}

/// Expression attribute names and values. Every attribute goes through a `#name` alias
/// (`ttl` is a DynamoDB reserved word; aliasing all of them keeps the rule simple).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: Attrs,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let alias = format!("#{attr}");
        self.names.insert(alias.clone(), attr.to_string());
        alias
    }

    fn value(&mut self, tag: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{tag}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, condition: Condition) -> Option<String> {
        match condition {
            Condition::Always => None,
            Condition::NotExists => Some(format!("attribute_not_exists({})", self.name(PK))),
            Condition::VersionIs(v) => {
                let version = self.name(VERSION);
                Some(format!("{version} = {}", self.value("expected", AttributeValue::N(v.to_string()))))
            }
        }
    }
}

#[cfg(test)]
#[cfg(feature = "moto")]
#[path = "dynamodb_tests.rs"]
mod tests;
