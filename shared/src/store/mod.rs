//! Typed access to the entities in the single table: key layout and (de)serialisation
//! live here and nowhere else. See `docs/storage.md`.
//!
//! - [`dead_letters`]: why a queue consumer gave up on a record.
//! - [`refund`]: the refund calculator's keys (its items are typed in that crate).
//! - [`queues`]: people's work queues on the sparse index `gsi3`, paged by cursor.
//! - [`transition`]: one idempotent, versioned transition of an entity with its messages.

pub mod dead_letters;
pub mod queues;
pub mod refund;
pub mod transition;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::audit::{due_at, shard_of};
use crate::domain::ids::{CustomerId, OrderId};
use crate::domain::order::{Order, OrderStatus};
use crate::domain::timeline;
use crate::error::{Error, Result, StoreError};
use crate::ports::{
    Condition, Index, IndexQuery, Item, Key, OutboundMessage, StateStore, Write, MAX_ITEM_BYTES, MAX_MESSAGE_BYTES,
};

/// An entity with the version it was read at, for an optimistic update.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub fn order_key(id: &OrderId) -> Key {
    Key::new(format!("ORDER#{id}"), "ORDER")
}

fn customer_index_pk(customer: &CustomerId) -> String {
    format!("CUSTOMER#{customer}")
}

/// Sortable timestamp for sort keys: fixed width, UTC, microseconds.
pub fn sort_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T> {
    serde_json::from_str(&item.body)
        .map_err(|e| Error::Store(StoreError::Corrupt(format!("{}/{}: {e}", item.key.pk, item.key.sk))))
}

#[allow(
    clippy::expect_used,
    reason = "the entities are structs of strings, numbers and string-keyed maps: serialising cannot fail"
)]
pub fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("entities serialise to JSON")
}

/// Partitions of the due-rule index (gsi2). Due rules spread over them by a stable
/// hash of the order id, so a burst of rules due at one moment is read and written
/// across many partitions rather than one hot key.
pub const DUE_SHARDS: u32 = 16;

pub fn due_index_pk(shard: u32) -> String {
    format!("DUE#{shard:02}")
}

fn order_item(order: &Order) -> Item {
    let item = Item::new(order_key(order.id()), encode(order)).with_index(
        Index::Gsi1,
        customer_index_pk(&order.request.customer_id),
        format!("{}#{}", sort_time(order.created_at), order.id()),
    );
    // Only orders with work coming due are in the due index (a sparse index): a
    // re-audit rule, or a prepayment that may become overdue.
    let due = match (&order.audit.rule, order.status, &order.prepayment) {
        (Some(rule), _, _) => Some(due_at(rule)),
        (None, OrderStatus::AwaitingPrepayment, Some(prepayment)) => Some(prepayment.due_at),
        _ => None,
    };
    // Only orders with an audit exception are in the work-queue index (sparse): the
    // others' writes never touch it.
    let item = match &order.audit.exception {
        Some(e) => item.with_index(
            Index::Gsi3,
            queues::exceptions_pk(&e.team, e.state()),
            queues::newest_first(e.opened_at, order.id().as_str()),
        ),
        None => item,
    };
    match due {
        Some(due) => item.with_index(
            Index::Gsi2,
            due_index_pk(shard_of(order.id().as_str(), DUE_SHARDS)),
            format!("{}#{}", sort_time(due), order.id()),
        ),
        None => item,
    }
}

/// Lowest sort key the due index is read from. Every time from year 0000 to 9999 sorts
/// at or above it; a key written for a time outside those years (`+10000-…`,
/// `-0001-…`) sorts below it and is never read, so it can neither look due forever nor
/// stand in front of the real ones.
const DUE_FROM: &str = "0";

/// The earliest time any rule in `shard` is due, if it has any.
pub async fn earliest_due(store: &dyn StateStore, shard: u32) -> Result<Option<DateTime<Utc>>> {
    let query = IndexQuery {
        index: Index::Gsi2,
        pk: due_index_pk(shard),
        sk_from: Some(DUE_FROM.into()),
        sk_to: None,
        limit: 1,
        after: None,
    };
    let page = store.query(query).await?;
    Ok(page.items.first().and_then(|i| i.index_keys.get(&Index::Gsi2)).and_then(|k| parse_sort_time(&k.sk)))
}

/// One page of the due orders of a shard.
#[derive(Debug, Default)]
pub struct DuePage {
    pub orders: Vec<Versioned<Order>>,
    /// Items of the page that could not be read as orders (logged, left alone).
    pub unreadable: usize,
    /// Where the next page starts; `None` when the due range is exhausted.
    pub next: Option<Key>,
}

/// Orders in `shard` whose rule is due at or before `now`, earliest first, from `after`
/// on (`None`: from the start). An item that cannot be read does not hide the others.
pub async fn due_orders(
    store: &dyn StateStore,
    shard: u32,
    now: DateTime<Utc>,
    limit: usize,
    after: Option<Key>,
) -> Result<DuePage> {
    let query = IndexQuery {
        index: Index::Gsi2,
        pk: due_index_pk(shard),
        sk_from: Some(DUE_FROM.into()),
        // Every sort key of a time up to `now` sorts below `now` followed by '~'.
        sk_to: Some(format!("{}~", sort_time(now))),
        limit,
        after,
    };
    let page = store.query(query).await?;
    let mut due = DuePage { next: page.next, ..DuePage::default() };
    // The index holds keys only: each entry's order is read (consistently) for its
    // state and version. One that left the table meanwhile is nothing to do.
    for entry in &page.items {
        let Some(item) = store.get(&entry.key).await? else { continue };
        match decode(&item) {
            Ok(value) => due.orders.push(Versioned { value, version: item.version }),
            Err(e) => {
                tracing::warn!(error = %e, "due index entry is not an order; skipped");
                due.unreadable = due.unreadable.saturating_add(1);
            }
        }
    }
    Ok(due)
}

pub async fn get_order(store: &dyn StateStore, id: &OrderId) -> Result<Option<Versioned<Order>>> {
    match store.get(&order_key(id)).await? {
        None => Ok(None),
        Some(item) => Ok(Some(Versioned { value: decode(&item)?, version: item.version })),
    }
}

/// The order `id`, or the `404` error saying it does not exist.
pub async fn require_order(store: &dyn StateStore, id: &OrderId) -> Result<Versioned<Order>> {
    get_order(store, id).await?.ok_or_else(|| Error::NotFound { what: "order", id: id.to_string() })
}

/// Creates the order with the messages of its placement in its outbox, unless one with
/// its id exists ([`StoreError::ConditionFailed`]). An order whose item or messages
/// would not fit is refused first ([`check_fits`]), so nothing is stored or published.
pub async fn create_order(store: &dyn StateStore, order: &Order, messages: Vec<OutboundMessage>) -> Result<()> {
    let item = order_item(order).with_outbox(messages);
    // Encoded as the store will keep it, so that the size checked is the size stored.
    let _ = item.outbox_bytes_as(store.outbox_encoding());
    check_fits(&item, 1, item.outbox().unwrap_or_default())?;
    store.write(Write::Put { item, condition: Condition::NotExists }).await?;
    Ok(())
}

/// Refuses, as a `422` naming `body`, an item that would not fit DynamoDB's item size
/// limit at `version` or a message that would not fit the SNS/SQS message size limit. [`crate::input::MAX_BODY_BYTES`] is chosen so that no accepted order
/// comes near either (`docs/storage.md`); this check keeps that true should a field or
/// a message grow, instead of a `500` after a partial effect.
pub fn check_fits(item: &Item, version: u64, messages: &[OutboundMessage]) -> Result<()> {
    let item_bytes = item.stored_size(version);
    let message_bytes = messages.iter().map(OutboundMessage::size).max().unwrap_or(0);
    if item_bytes > MAX_ITEM_BYTES || message_bytes > MAX_MESSAGE_BYTES {
        tracing::warn!(
            pk = %item.key.pk,
            item_bytes,
            message_bytes,
            "refused: the item or a message would pass DynamoDB's or SNS/SQS's size limit"
        );
        return Err(Error::validation(
            "body",
            format!(
                "the order would be stored as {item_bytes} bytes with a largest message of {message_bytes} bytes; \
                 the limits are {MAX_ITEM_BYTES} and {MAX_MESSAGE_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// An entity kept as one item.
pub trait Stored: Send {
    fn to_item(&self) -> Item;

    /// Notes the transition from `before` in the entity's timeline, if it keeps one.
    fn record_transition(&mut self, _before: &Self, _context: &timeline::Context)
    where
        Self: Sized,
    {
    }
}

impl Stored for Order {
    fn to_item(&self) -> Item {
        order_item(self)
    }

    fn record_transition(&mut self, before: &Self, context: &timeline::Context) {
        Order::record_transition(self, Some(before), context);
    }
}

/// What a transition sending `messages` at `at` records besides the entity: who or
/// what caused it and its trace (of the request or record being handled).
pub fn transition_context(at: DateTime<Utc>, messages: &[OutboundMessage]) -> timeline::Context {
    timeline::Context {
        at: Some(at),
        by: crate::trace::actor(),
        trace_id: crate::trace::current().map(|t| t.trace_id().to_string()),
        messages: messages
            .iter()
            .map(|m| timeline::MessageRef { id: m.id.clone(), kind: m.kind().to_string() })
            .collect(),
    }
}

/// Refuses, before anything is written, messages the outbox relay could never send:
/// one over the SNS/SQS message size limit ([`crate::ports::oversized_message`]). The
/// cause fails with the reason (a `422`, or a dead-lettered record) instead of a
/// committed transition whose messages cannot leave.
pub fn check_outbox(messages: &[OutboundMessage]) -> Result<()> {
    for (i, m) in messages.iter().enumerate() {
        if let Some(reason) = crate::ports::oversized_message(&m.topic, &m.body, &m.attributes) {
            return Err(Error::validation(format!("outbox[{i}]"), reason));
        }
    }
    Ok(())
}

/// Saves the entity with `messages` in its outbox if nobody changed it since `version`
/// was read. The outbox relay publishes the messages once the write has committed.
pub async fn save<T: Stored>(
    store: &dyn StateStore,
    entity: &T,
    version: u64,
    messages: Vec<OutboundMessage>,
) -> Result<u64> {
    check_outbox(&messages)?;
    let item = entity.to_item().with_outbox(messages);
    Ok(store.write(Write::Put { item, condition: Condition::VersionIs(version) }).await?)
}

/// What the velocity and new-customer rules need: whether the customer ordered before,
/// and the creation times of their orders since `since`.
pub async fn customer_history(
    store: &dyn StateStore,
    customer: &CustomerId,
    since: Option<DateTime<Utc>>,
    need_any: bool,
    cap: usize,
) -> Result<(bool, Vec<DateTime<Utc>>)> {
    let pk = customer_index_pk(customer);
    let mut times = Vec::new();
    if let Some(since) = since {
        let page = store
            .query(IndexQuery {
                index: Index::Gsi1,
                pk: pk.clone(),
                sk_from: Some(sort_time(since)),
                sk_to: None,
                limit: cap,
                after: None,
            })
            .await?;
        times = page
            .items
            .iter()
            .filter_map(|i| i.index_keys.get(&Index::Gsi1))
            .filter_map(|k| parse_sort_time(&k.sk))
            .collect();
    }
    let has_history = if !times.is_empty() || !need_any {
        !times.is_empty()
    } else {
        let page = store
            .query(IndexQuery { index: Index::Gsi1, pk, sk_from: None, sk_to: None, limit: 1, after: None })
            .await?;
        !page.items.is_empty()
    };
    Ok((has_history, times))
}

fn parse_sort_time(sk: &str) -> Option<DateTime<Utc>> {
    let time = sk.split('#').next()?;
    DateTime::parse_from_rfc3339(time).ok().map(|t| t.with_timezone(&Utc))
}

fn notification_key(notification_id: &str) -> Key {
    Key::new(format!("NOTIFICATION#{notification_id}"), "SENT")
}

/// How long a sent notification is remembered, to drop redeliveries of it.
pub const NOTIFICATION_MEMORY_DAYS: i64 = 14;

/// Records the notification with `message` in the record's outbox (the outbox relay
/// sends it), unless it is recorded already: `false` then, and nothing is written. The
/// record expires through the table's TTL; until the TTL removes it, a redelivery of
/// the notification is dropped.
pub async fn record_notification(
    store: &dyn StateStore,
    notification_id: &str,
    now: DateTime<Utc>,
    message: OutboundMessage,
) -> Result<bool> {
    check_outbox(std::slice::from_ref(&message))?;
    let mut item = Item::new(notification_key(notification_id), format!("{{\"sent_at\":\"{}\"}}", sort_time(now)))
        .with_outbox(vec![message]);
    item.expires_at = Some((now + chrono::Duration::days(NOTIFICATION_MEMORY_DAYS)).timestamp());
    match store.write(Write::Put { item, condition: Condition::NotExists }).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn progress_key(order_id: &str) -> Key {
    Key::new(format!("ORDER#{order_id}"), "FULFILMENT")
}

impl Stored for crate::domain::fulfilment::Progress {
    fn to_item(&self) -> Item {
        Item::new(progress_key(&self.order_id), encode(self))
    }
}

/// The order's fulfilment progress, kept beside the order in its own item so the
/// dispatcher's writes never contend with the audit chain's.
pub async fn get_progress(
    store: &dyn StateStore,
    order_id: &str,
) -> Result<Option<Versioned<crate::domain::fulfilment::Progress>>> {
    match store.get(&progress_key(order_id)).await? {
        None => Ok(None),
        Some(item) => Ok(Some(Versioned { value: decode(&item)?, version: item.version })),
    }
}

/// Creates the progress with `messages` in its outbox unless it exists
/// ([`StoreError::ConditionFailed`]).
pub async fn create_progress(
    store: &dyn StateStore,
    progress: &crate::domain::fulfilment::Progress,
    messages: Vec<OutboundMessage>,
) -> Result<u64> {
    check_outbox(&messages)?;
    let item = progress.to_item().with_outbox(messages);
    Ok(store.write(Write::Put { item, condition: Condition::NotExists }).await?)
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[tokio::test]
    async fn an_order_is_created_with_its_outbox_deflated_as_its_store_deflates() {
        let store = crate::adapters::embedded::EmbeddedStore::default();
        let order = crate::domain::test_orders::order(serde_json::json!({}));
        let message = OutboundMessage {
            id: "o-1:order.dispatched:1".into(),
            topic: "order-events".into(),
            body: "{\"id\":\"o-1:order.dispatched:1\",\"type\":\"order.dispatched\"}".repeat(20),
            attributes: [("type".to_string(), "order.dispatched".to_string())].into(),
            via: Default::default(),
        };
        create_order(&store, &order, vec![message.clone()]).await.unwrap();
        let stored = store.get(&order_item(&order).key).await.unwrap().unwrap();
        let fresh = Item::new(stored.key.clone(), String::new()).with_outbox(vec![message.clone()]);
        let fast = Write::Put { item: fresh, condition: Condition::Always };
        fast.encode_outbox(crate::ports::OutboxEncoding::Fast);
        let Write::Put { item: fast, .. } = fast else { unreachable!() };
        assert_eq!(stored.outbox_bytes(), fast.outbox_bytes());
        // Not the bytes DynamoDB is sent.
        let small = Item::new(stored.key.clone(), String::new()).with_outbox(vec![message]);
        assert_ne!(stored.outbox_bytes(), small.outbox_bytes());
    }

    #[test]
    fn an_item_or_a_message_over_its_limit_is_refused_naming_the_body() {
        let key = Key::new("ORDER#o-1", "ORDER");
        let small = Item::new(key.clone(), "{}".into());
        assert!(check_fits(&small, 1, &[]).is_ok());
        let large = Item::new(key, "x".repeat(MAX_ITEM_BYTES));
        assert!(matches!(check_fits(&large, 1, &[]), Err(Error::Validation { .. })));
        let attributes = [("type".to_string(), "order.dispatched".to_string())].into();
        let message = |bytes| OutboundMessage {
            id: "m-1".into(),
            topic: "order-events".into(),
            body: "x".repeat(bytes),
            attributes: std::collections::BTreeMap::clone(&attributes),
            via: Default::default(),
        };
        assert!(check_fits(&small, 1, &[message(MAX_MESSAGE_BYTES - 26)]).is_ok());
        assert!(matches!(check_fits(&small, 1, &[message(MAX_MESSAGE_BYTES - 25)]), Err(Error::Validation { .. })));
    }
}
