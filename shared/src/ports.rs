//! Ports: the narrow async interfaces through which the domain does I/O. Each has an
//! in-process implementation ([`crate::embedded`]) and an AWS one ([`crate::aws`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, StoreError};

/// Primary key of a stored item (DynamoDB `pk`/`sk`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key { pk: pk.into(), sk: sk.into() }
    }
}

/// The secondary indexes of the single table. See `docs/storage.md` for what each holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Index {
    /// `gsi1pk`/`gsi1sk`: a customer's orders by creation time.
    Gsi1,
    /// `gsi2pk`/`gsi2sk`: sharded schedule of due work (re-audit rules by next attempt).
    Gsi2,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::Gsi1, Index::Gsi2];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
        }
    }
}

/// An item as stored: keys, an optimistic-lock version, the entity as JSON, optional
/// index keys and an optional expiry (DynamoDB TTL, epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    /// Set by the store: 1 on creation, +1 on every versioned update.
    pub version: u64,
    pub body: String,
    pub index_keys: BTreeMap<Index, Key>,
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn new(key: Key, body: String) -> Self {
        Item { key, version: 0, body, index_keys: BTreeMap::new(), expires_at: None }
    }

    pub fn with_index(mut self, index: Index, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.index_keys.insert(index, Key::new(pk, sk));
        self
    }
}

/// When a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// Only if no item has this key (idempotent creation).
    NotExists,
    /// Only if the stored item has this version (optimistic locking).
    VersionIs(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Stores the item; the stored version becomes 1 (`NotExists`, `Always` on a new
    /// key) or the previous version + 1.
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
}

/// A page of an index query, in ascending sort-key order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Pass back as `after` to continue; `None` when the range is exhausted.
    pub next: Option<Key>,
}

/// Sort-key bounds of an index query, both inclusive.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub index: Index,
    pub pk: String,
    pub sk_from: Option<String>,
    pub sk_to: Option<String>,
    pub limit: usize,
    /// The table key of the last item of the previous page.
    pub after: Option<Key>,
}

/// DynamoDB-shaped state: single items, conditional writes, all-or-nothing
/// transactions, and range queries on the secondary indexes.
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// One conditional write; returns the stored version (0 for a delete).
    async fn write(&self, write: Write) -> Result<u64, StoreError>;
    /// Up to 100 writes that all happen or none does. Any failed condition fails all
    /// with [`StoreError::ConditionFailed`].
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    async fn query(&self, query: IndexQuery) -> Result<Page, StoreError>;
}

/// A message for a topic (or, with [`Via::Queue`], straight onto a queue): the body (a
/// CloudEvents JSON envelope for everything leaving the system) and the message
/// attributes subscribers filter on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundMessage {
    /// The topology name of the topic (or queue) it goes to.
    pub topic: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub via: Via,
}

/// How an outbound message travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    #[default]
    Topic,
    Queue,
}

/// Publishes to named topics (the topology's names; adapters resolve them to ARNs).
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, message: &OutboundMessage) -> Result<(), Error>;
}

/// A message received from a queue, as an event source mapping would hand it over.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub receive_count: u32,
}

/// Counts shown by the local runtime's `GET /_local/queues`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    pub name: String,
    pub visible: usize,
    pub in_flight: usize,
    pub dead_letters: usize,
}

/// SQS-shaped queues, by topology name. Functions only `send`; the local runtime uses
/// the rest to play the Lambda event source mapping.
#[async_trait]
pub trait Queues: Send + Sync {
    async fn send(&self, queue: &str, body: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error>;
    /// Receives up to `max` visible messages and hides them for the queue's visibility
    /// timeout. Messages past their queue's maxReceiveCount move to its dead-letter
    /// queue instead.
    async fn receive(&self, queue: &str, max: usize) -> Result<Vec<ReceivedMessage>, Error>;
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), Error>;
    /// Makes a received message visible again after `seconds`.
    async fn release(&self, queue: &str, receipt: &str, seconds: u32) -> Result<(), Error>;
    async fn stats(&self, queue: &str) -> Result<QueueStats, Error>;
    /// The bodies of the messages in the queue's dead-letter queue, oldest first.
    async fn dead_letters(&self, queue: &str) -> Result<Vec<ReceivedMessage>, Error>;
}

/// The only source of time for domain and handlers.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Source of fresh unique identifiers (refund ids, message ids).
pub trait IdGenerator: Send + Sync {
    fn next_id(&self) -> String;
}
