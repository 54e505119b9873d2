//! Ports: the narrow async interfaces through which the domain does I/O. Each has an
//! in-process implementation ([`crate::adapters::embedded`]) and an AWS one
//! ([`crate::adapters::aws`]). What a Lambda function needs stays narrow
//! ([`QueueSender`]); what only the local runtime needs lives apart ([`Broker`]).

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
    /// `gsi1pk`/`gsi1sk`: a customer's orders by creation time. Keys only: the risk
    /// check needs how many orders and when, never their bodies, and an index that
    /// projects nothing but keys is not written when an order changes.
    Gsi1,
    /// `gsi2pk`/`gsi2sk`: sharded schedule of due work (re-audit rules by next attempt).
    /// Keys only: the tick reads each order it acts on, and an index holding whole
    /// orders would be rewritten at twice the order's size on every re-audit.
    Gsi2,
    /// `gsi3pk`/`gsi3sk`: people's work queues: a team's audit exceptions by state and
    /// the refunds awaiting a reviewer, newest first. Sparse and keys only: an item
    /// without an exception or a pending review has no `gsi3` keys and costs the index
    /// nothing, and one in a queue writes the index only when it enters, moves or leaves.
    Gsi3,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Gsi1, Index::Gsi2, Index::Gsi3];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
            Index::Gsi3 => "gsi3",
        }
    }

    /// Whether the index holds only keys (`KEYS_ONLY`): its query results carry the
    /// table key and the index keys, with version 0 and an empty body.
    pub fn keys_only(self) -> bool {
        matches!(self, Index::Gsi1 | Index::Gsi2 | Index::Gsi3)
    }

    /// The names of its key attributes in the table: `gsi1pk`/`gsi1sk` for `gsi1`.
    pub fn key_attributes(self) -> (String, String) {
        (format!("{}pk", self.name()), format!("{}sk", self.name()))
    }
}

/// An item as stored: keys, an optimistic-lock version, the entity as JSON, optional
/// index keys, an optional expiry (DynamoDB TTL, epoch seconds) and the outbox: the
/// messages of the transition that wrote it, which the outbox relay publishes from the
/// table's change stream ([`crate::messages::relay`]).
#[derive(Debug, Clone)]
pub struct Item {
    pub key: Key,
    /// Set by the store: 1 on creation, +1 on every versioned update.
    pub version: u64,
    pub body: String,
    pub index_keys: BTreeMap<Index, Key>,
    pub expires_at: Option<i64>,
    /// The messages of the write's transition, in the order they are to leave. A write
    /// without messages stores none (the previous transition's were relayed from its
    /// own change record). Set only through [`Item::with_outbox`], so that its encoding
    /// ([`Item::outbox_bytes`]) is computed once and stays true to it; an item read
    /// back from a store ([`Item::with_stored_outbox`]) decodes them from its stored
    /// bytes only when asked ([`Item::outbox`]). Shared by the item's clones (the
    /// table's row and the change feed's images hold the same messages).
    outbox: std::sync::Arc<std::sync::OnceLock<Result<Vec<OutboundMessage>, String>>>,
    encoded: EncodedOutbox,
}

/// Two items are equal when their attributes and their outbox's messages are (an
/// outbox that cannot be read equals one that fails the same way).
impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.version == other.version
            && self.body == other.body
            && self.index_keys == other.index_keys
            && self.expires_at == other.expires_at
            && self.outbox() == other.outbox()
    }
}

impl Eq for Item {}

/// An outbox's stored bytes, deflated once on first use and shared by the item's
/// clones: a write's size check, its stream images (old and new) and the durable
/// store's row all need them, and deflating is most of what writing an item costs.
/// Not part of an item's identity (two items with the same messages are equal).
#[derive(Clone, Default)]
struct EncodedOutbox(std::sync::Arc<std::sync::OnceLock<Vec<u8>>>);

impl PartialEq for EncodedOutbox {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for EncodedOutbox {}

impl std::fmt::Debug for EncodedOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl Item {
    pub fn new(key: Key, body: String) -> Self {
        Item {
            key,
            version: 0,
            body,
            index_keys: BTreeMap::new(),
            expires_at: None,
            outbox: std::sync::Arc::default(),
            encoded: EncodedOutbox::default(),
        }
    }

    /// The item with `messages` in its outbox.
    pub fn with_outbox(mut self, messages: Vec<OutboundMessage>) -> Self {
        self.outbox = std::sync::Arc::new(std::sync::OnceLock::from(Ok(messages)));
        self.encoded = EncodedOutbox::default();
        self
    }

    /// The item with the outbox it was stored with: its bytes, kept as they are (not
    /// encoded again) and decoded only if the messages are asked for ([`Item::outbox`]).
    /// A handler reads an item for its state, never for the messages of the transition
    /// that wrote it (the outbox relay reads those from the change stream's images),
    /// so a read does not inflate and parse them.
    pub fn with_stored_outbox(mut self, bytes: Vec<u8>) -> Self {
        self.outbox = std::sync::Arc::default();
        self.encoded = EncodedOutbox(std::sync::Arc::new(std::sync::OnceLock::from(bytes)));
        self
    }

    /// The messages of the write's transition, in the order they are to leave; for an
    /// item read back from a store, the error says what is wrong with its stored bytes.
    pub fn outbox(&self) -> Result<&[OutboundMessage], String> {
        let decoded = self.outbox.get_or_init(|| match self.encoded.0.get() {
            Some(bytes) => decode_outbox(bytes),
            None => Ok(Vec::new()),
        });
        match decoded {
            Ok(messages) => Ok(messages),
            Err(e) => Err(e.clone()),
        }
    }

    /// The messages, taken out of the item (see [`Item::outbox`]).
    pub fn into_outbox(self) -> Result<Vec<OutboundMessage>, String> {
        self.outbox()?;
        match std::sync::Arc::try_unwrap(self.outbox).map(std::sync::OnceLock::into_inner) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => Ok(Vec::new()),
            Err(shared) => shared.get().cloned().unwrap_or_else(|| Ok(Vec::new())),
        }
    }

    /// The outbox as the table stores it: the messages as a JSON array, deflated, in
    /// the binary attribute `outbox`; absent when there are no messages. Encoded
    /// [`OutboxEncoding::Small`] unless the store encoded it before
    /// ([`Write::encode_outbox`]).
    pub fn outbox_bytes(&self) -> Option<&[u8]> {
        self.outbox_bytes_as(OutboxEncoding::Small)
    }

    /// As [`Item::outbox_bytes`], deflated as `encoding` says unless the item's outbox
    /// was encoded before (the bytes are made once and shared by the item's clones).
    pub fn outbox_bytes_as(&self, encoding: OutboxEncoding) -> Option<&[u8]> {
        // Stored bytes, or encoded before.
        if let Some(bytes) = self.encoded.0.get() {
            return Some(bytes);
        }
        let messages = match self.outbox.get() {
            Some(Ok(messages)) if !messages.is_empty() => messages,
            _ => return None,
        };
        Some(self.encoded.0.get_or_init(|| encode_outbox_as(messages, encoding)).as_slice())
    }

    pub fn with_index(mut self, index: Index, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.index_keys.insert(index, Key::new(pk, sk));
        self
    }

    /// The item's size as DynamoDB counts it against [`MAX_ITEM_BYTES`], stored at
    /// `version` the way the DynamoDB adapter stores it: strings `pk`, `sk`, `body`,
    /// `gsiNpk`/`gsiNsk` per index entry, numbers `version` and `ttl` (see
    /// [`string_attribute_size`]). The embedded store refuses what DynamoDB would.
    pub fn stored_size(&self, version: u64) -> usize {
        let mut size = string_attribute_size(layout::PK, &self.key.pk)
            + string_attribute_size(layout::SK, &self.key.sk)
            + number_attribute_size(layout::VERSION, &version.to_string())
            + string_attribute_size(layout::BODY, &self.body);
        for (index, key) in &self.index_keys {
            let (pk, sk) = index.key_attributes();
            size += string_attribute_size(&pk, &key.pk) + string_attribute_size(&sk, &key.sk);
        }
        if let Some(at) = self.expires_at {
            size += number_attribute_size(layout::TTL, &at.to_string());
        }
        if let Some(outbox) = self.outbox_bytes() {
            size += binary_attribute_size(layout::OUTBOX, outbox);
        }
        size
    }

    /// `Ok` if the item fits DynamoDB's item size limit at `version`; else the store
    /// error both stores answer, naming the item and its size.
    pub fn check_size(&self, version: u64) -> Result<(), StoreError> {
        let size = self.stored_size(version);
        if size > MAX_ITEM_BYTES {
            let Key { pk, sk } = &self.key;
            return Err(StoreError::Backend(format!(
                "item {pk}/{sk} would be {size} bytes, over DynamoDB's {MAX_ITEM_BYTES}-byte item size limit"
            )));
        }
        Ok(())
    }
}

/// DynamoDB's item size limit: 400 KB, counted as [`Item::stored_size`] does.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Attribute names of an item in the DynamoDB table (`aws::dynamodb` writes these; the
/// size rules count them).
pub mod layout {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const VERSION: &str = "version";
    pub const BODY: &str = "body";
    pub const TTL: &str = "ttl";
    pub const OUTBOX: &str = "outbox";
}

/// An outbox as its attribute holds it (see [`Item::outbox_bytes`]): the JSON list of
/// messages, deflated. A transition's messages are CloudEvents envelopes that repeat
/// their field names, source and subject; deflated they take about two fifths of the
/// bytes, and DynamoDB bills every write of the item by its size (the next write by
/// the larger of the old item and the new), so the item stays under a write unit
/// where it can. Deflate is deterministic: the same messages give the same bytes.
pub fn encode_outbox(messages: &[OutboundMessage]) -> Vec<u8> {
    encode_outbox_as(messages, OutboxEncoding::Small)
}

/// How a store deflates an item's outbox. Both read back the same way
/// ([`decode_outbox`]); each is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxEncoding {
    /// Dynamic Huffman codes: about 39% of the JSON for a typical outbox of 1.3 KB,
    /// in about 19 µs. DynamoDB bills a write by the item's size, so the DynamoDB
    /// adapter stores this.
    Small,
    /// Up to [`STORED_OUTBOX_BYTES`] of JSON, deflate's stored blocks: the JSON as it
    /// is behind a 5-byte header, written and read back as a copy; larger, fixed
    /// Huffman codes (about 49% of the JSON). The embedded stores bill nothing and
    /// keep the time instead: compressing a typical outbox of 1.3 KB took about 8 µs
    /// with fixed codes and inflating it about 3 µs, together about a tenth of a whole
    /// chain's CPU in memory (`orderflow-local bench chain`). Where an item is within
    /// a few KB of [`MAX_ITEM_BYTES`], an embedded store may refuse it sooner than
    /// DynamoDB would.
    Fast,
}

fn encode_outbox_as(messages: &[OutboundMessage], encoding: OutboxEncoding) -> Vec<u8> {
    // Strings and string maps only: serialising cannot fail.
    let json = serde_json::to_vec(messages).unwrap_or_default();
    codec::deflate(&json, encoding)
}

/// The largest outbox JSON that [`OutboxEncoding::Fast`] keeps uncompressed.
pub const STORED_OUTBOX_BYTES: usize = 16 * 1024;

/// The most an outbox may inflate to: an item is at most 400 KB, and its messages at
/// most 256 KiB each; anything larger is not an outbox this code wrote.
const MAX_OUTBOX_JSON_BYTES: usize = 8 * 1024 * 1024;

/// Reads an `outbox` attribute back; the error says what is wrong with it.
pub fn decode_outbox(bytes: &[u8]) -> Result<Vec<OutboundMessage>, String> {
    let json = codec::inflate(bytes, MAX_OUTBOX_JSON_BYTES)?;
    serde_json::from_slice(&json).map_err(|e| format!("the outbox is not a list of messages: {e}"))
}

/// Raw deflate (flate2 on zlib-rs, about twice as fast as its pure-Rust miniz backend
/// for an outbox of a few KB, at the same size) with one compressor and one
/// decompressor per thread, reset between uses: a new compressor allocates and zeroes
/// hundreds of KB of tables, which cost more than compressing an outbox.
mod codec {
    use std::cell::RefCell;

    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    use super::OutboxEncoding;

    thread_local! {
        static SMALL: RefCell<Compress> = RefCell::new(Compress::new(level(OutboxEncoding::Small), false));
        static FAST: RefCell<Compress> = RefCell::new(Compress::new(level(OutboxEncoding::Fast), false));
        static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
    }

    /// zlib's default level, and its fastest (zlib-rs's level 1 codes with the fixed
    /// Huffman tables, which on an outbox of a few KB saves the building of dynamic
    /// ones, most of the time at every other level).
    fn level(encoding: OutboxEncoding) -> Compression {
        match encoding {
            OutboxEncoding::Small => Compression::default(),
            OutboxEncoding::Fast => Compression::fast(),
        }
    }

    pub(super) fn deflate(input: &[u8], encoding: OutboxEncoding) -> Vec<u8> {
        if encoding == OutboxEncoding::Fast && input.len() <= super::STORED_OUTBOX_BYTES {
            return stored(input);
        }
        let compressor = match encoding {
            OutboxEncoding::Small => &SMALL,
            OutboxEncoding::Fast => &FAST,
        };
        compressor.with(|cell| {
            let mut fresh = None;
            // Not re-entered; a borrow that fails all the same gets its own compressor.
            let mut guard = cell.try_borrow_mut().ok();
            let c = match guard.as_deref_mut() {
                Some(c) => c,
                None => fresh.insert(Compress::new(level(encoding), false)),
            };
            c.reset();
            let mut out = Vec::with_capacity(input.len() / 2 + 64);
            loop {
                let read = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
                let rest = input.get(read..).unwrap_or_default();
                match c.compress_vec(rest, &mut out, FlushCompress::Finish) {
                    Ok(Status::StreamEnd) | Err(_) => break,
                    Ok(_) => out.reserve(out.capacity().max(64)),
                }
            }
            out
        })
    }

    /// `input` as one final stored block (RFC 1951, 3.2.4): the header bits BFINAL = 1
    /// and BTYPE = 00 padded to a byte, LEN and its one's complement NLEN, little-endian,
    /// then the bytes. Written here rather than by flate2 at level 0, which writes the
    /// same block but first clears 128 KB of match tables that a stored block never
    /// uses. `input` is at most [`super::STORED_OUTBOX_BYTES`], under a block's 65,535.
    fn stored(input: &[u8]) -> Vec<u8> {
        let len = u16::try_from(input.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(input.len() + 5);
        out.push(0x01);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(input.get(..usize::from(len)).unwrap_or(input));
        out
    }

    /// Inflates `input`; refuses what is not deflated data or would inflate past `max`.
    pub(super) fn inflate(input: &[u8], max: usize) -> Result<Vec<u8>, String> {
        INFLATE.with(|cell| {
            let mut fresh = None;
            let mut guard = cell.try_borrow_mut().ok();
            let d = match guard.as_deref_mut() {
                Some(d) => d,
                None => fresh.insert(Decompress::new(false)),
            };
            d.reset(false);
            let mut out = Vec::with_capacity(input.len().saturating_mul(3).min(max) + 64);
            loop {
                let read = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
                let rest = input.get(read..).unwrap_or_default();
                let before = (d.total_in(), d.total_out());
                let status = d
                    .decompress_vec(rest, &mut out, FlushDecompress::None)
                    .map_err(|e| format!("the outbox is not deflated data: {e}"))?;
                if out.len() > max {
                    return Err(format!("the outbox inflates past {max} bytes"));
                }
                match status {
                    Status::StreamEnd => return Ok(out),
                    _ if out.len() < out.capacity() && before == (d.total_in(), d.total_out()) => {
                        return Err("the outbox is not deflated data: it ends before its last block".into());
                    }
                    _ => out.reserve(out.capacity().clamp(64, max.saturating_add(1))),
                }
            }
        })
    }
}

/// DynamoDB's size rules for the attribute types this table uses (Amazon DynamoDB
/// Developer Guide, "DynamoDB item sizes and formats"): an item is the sum of its
/// attributes; a string attribute is the UTF-8 bytes of its name plus those of its value.
pub fn string_attribute_size(name: &str, value: &str) -> usize {
    name.len() + value.len()
}

/// A binary attribute is the UTF-8 bytes of its name plus its raw bytes (not their
/// base64 form).
pub fn binary_attribute_size(name: &str, value: &[u8]) -> usize {
    name.len() + value.len()
}

/// A number attribute is the UTF-8 bytes of its name, plus one byte per two significant
/// digits (leading and trailing zeros trimmed), plus one byte. `value` is the number as
/// DynamoDB's API carries it (`"42"`, `"-1.50"`).
pub fn number_attribute_size(name: &str, value: &str) -> usize {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    name.len() + significant.div_ceil(2) + 1
}

/// SNS's and SQS's message size limit: 256 KiB, counted as [`message_size`] does.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A message's size as SNS and SQS count it against [`MAX_MESSAGE_BYTES`]: the body's
/// UTF-8 bytes plus, per attribute, the bytes of its name, data type (`String`, the
/// only type the adapters send) and value.
pub fn message_size(body: &str, attributes: &BTreeMap<String, String>) -> usize {
    let attributes: usize = attributes.iter().map(|(name, value)| name.len() + "String".len() + value.len()).sum();
    body.len() + attributes
}

/// Why the message cannot go to the topic or queue `to`, if it is over the size limit:
/// the reason every publisher and queue adapter gives, on both backends.
pub fn oversized_message(to: &str, body: &str, attributes: &BTreeMap<String, String>) -> Option<String> {
    let size = message_size(body, attributes);
    (size > MAX_MESSAGE_BYTES).then(|| {
        format!("{to}: the message is {size} bytes, over the {MAX_MESSAGE_BYTES}-byte SNS/SQS message size limit")
    })
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

impl Write {
    /// Deflates a put's outbox now ([`Item::outbox_bytes`]; once, its clones share the
    /// bytes). A store calls it before it takes its lock, so that the size check under
    /// the lock finds the work done and writes on several threads compress side by side
    /// rather than one after another.
    pub fn encode_outbox(&self, encoding: OutboxEncoding) {
        if let Write::Put { item, .. } = self {
            let _ = item.outbox_bytes_as(encoding);
        }
    }
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

    /// How this store deflates an item's outbox: [`OutboxEncoding::Small`] where the
    /// bytes are billed (DynamoDB), [`OutboxEncoding::Fast`] where they are not. A flow
    /// that checks an item's size before it writes it encodes the outbox this way first
    /// ([`Write::encode_outbox`]), so the check and the store see the same bytes.
    fn outbox_encoding(&self) -> OutboxEncoding {
        OutboxEncoding::Small
    }
}

/// A message for a topic (or, with [`Via::Queue`], straight onto a queue): the body (a
/// CloudEvents JSON envelope for everything leaving the system) and the message
/// attributes subscribers filter on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundMessage {
    /// Stable across redelivery and relaying (the CloudEvents `id`, or a notification
    /// request's `notification_id`): consumers drop a repeated id, and the outbox relay
    /// tells a transition's new messages from those an item already carried by it.
    pub id: String,
    /// The topology name of the topic (or queue) it goes to.
    pub topic: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub via: Via,
}

impl OutboundMessage {
    /// Its size against [`MAX_MESSAGE_BYTES`] (see [`message_size`]).
    pub fn size(&self) -> usize {
        message_size(&self.body, &self.attributes)
    }
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

    /// Publishes `messages`, all to one topic, in one request: SNS's `PublishBatch`, at
    /// most [`MAX_BATCH_MESSAGES`] messages of at most [`MAX_MESSAGE_BYTES`] together
    /// ([`batch_len`] says how many of a list fit). SNS bills the batch as one publish
    /// (per 64 KB of its payload) rather than one per message. `Ok` only if every message
    /// was published; after an error some may have been, and the caller's retry sends
    /// them again under the same ids.
    async fn publish_batch(&self, messages: &[OutboundMessage]) -> Result<(), Error> {
        for message in messages {
            self.publish(message).await?;
        }
        Ok(())
    }

    /// How many of `messages`, from the first, go together in one
    /// [`Publisher::publish_batch`]: SNS's limits ([`batch_len`]) unless this publisher
    /// takes more at once.
    fn batch_len(&self, messages: &[OutboundMessage]) -> usize {
        batch_len(messages)
    }
}

/// The most messages one SNS `PublishBatch` request carries.
pub const MAX_BATCH_MESSAGES: usize = 10;

/// How many of `messages`, from the first, go together in one [`Publisher::publish_batch`]:
/// those sent to the same topic as the first, at most [`MAX_BATCH_MESSAGES`] of them
/// and at most [`MAX_MESSAGE_BYTES`] together. At least one, unless `messages` is empty
/// or the first goes to a queue (a message over the limit goes alone, to be refused).
pub fn batch_len(messages: &[OutboundMessage]) -> usize {
    let Some(first) = messages.first() else { return 0 };
    if first.via != Via::Topic {
        return 0;
    }
    let mut total = 0;
    let mut len = 0;
    for message in messages.iter().take(MAX_BATCH_MESSAGES) {
        total += message.size();
        if message.via != Via::Topic || message.topic != first.topic || (len > 0 && total > MAX_MESSAGE_BYTES) {
            break;
        }
        len += 1;
    }
    len
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

/// Sends to SQS-shaped queues, by topology name: all a Lambda function does with a queue.
#[async_trait]
pub trait QueueSender: Send + Sync {
    async fn send(&self, queue: &str, body: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error>;
}

/// The rest of a queue, which only the local runtime uses to play the Lambda event
/// source mapping (receive, delete, release) and to show the queues (stats, dead
/// letters). No Lambda function is given one.
#[async_trait]
pub trait Broker: QueueSender {
    /// Receives up to `max` visible messages and hides them for the queue's visibility
    /// timeout. Messages past their queue's maxReceiveCount move to its dead-letter
    /// queue instead.
    async fn receive(&self, queue: &str, max: usize) -> Result<Vec<ReceivedMessage>, Error>;
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), Error>;
    /// Deletes the received messages of `receipts` together (SQS's `DeleteMessageBatch`):
    /// what an event source mapping does with a batch's successes. A store that commits
    /// per call does it in one commit.
    async fn delete_batch(&self, queue: &str, receipts: &[&str]) -> Result<(), Error> {
        for receipt in receipts {
            self.delete(queue, receipt).await?;
        }
        Ok(())
    }
    /// Makes a received message visible again after `seconds`.
    async fn release(&self, queue: &str, receipt: &str, seconds: u32) -> Result<(), Error>;
    async fn stats(&self, queue: &str) -> Result<QueueStats, Error>;
    /// Whether the queue holds a message, visible or in flight (its dead letters aside):
    /// what a caller waiting for the queues to settle asks, often. A store that counts
    /// by scanning answers it without counting.
    async fn pending(&self, queue: &str) -> Result<bool, Error> {
        let stats = self.stats(queue).await?;
        Ok(stats.visible + stats.in_flight > 0)
    }
    /// The bodies of the messages in the queue's dead-letter queue, oldest first.
    async fn dead_letters(&self, queue: &str) -> Result<Vec<ReceivedMessage>, Error>;
    /// Moves up to `max` of the queue's dead letters, oldest first, back onto the queue
    /// for another try (as SQS's dead-letter queue redrive does), with body, attributes
    /// and message id kept and the receive count started again. Returns the ids moved.
    async fn redrive(&self, queue: &str, max: usize) -> Result<Vec<String>, Error>;
}

/// The only source of time for domain and handlers.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Source of fresh unique identifiers (refund ids, message ids).
pub trait IdGenerator: Send + Sync {
    fn next_id(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodb_documented_examples() {
        // Service quotas page: "shirt-color" = "R" and "shirt-size" = "M" is 23 bytes.
        assert_eq!(string_attribute_size("shirt-color", "R") + string_attribute_size("shirt-size", "M"), 23);
        // Names and values count in UTF-8 bytes, not characters.
        assert_eq!(string_attribute_size("名前", "é"), 8);
        // Numbers: a byte per two significant digits, leading and trailing zeros trimmed,
        // plus one: 2099 is 3 bytes, 1000 and 0.001 are 2, 12345 is 4.
        assert_eq!(number_attribute_size("n", "2099"), 4);
        assert_eq!(number_attribute_size("n", "1000"), 3);
        assert_eq!(number_attribute_size("n", "0.001"), 3);
        assert_eq!(number_attribute_size("n", "12345"), 5);
        // A slot item of seven strings and one number, 141 bytes by the usual calculators.
        let strings = [
            ("itemType", "SLOT"),
            ("id", "abc1231"),
            ("hostName", "Harry Mason"),
            ("timeSlot", "February 23, 1999"),
            ("slotStatus", "OPEN"),
            ("createdAt", "February 1, 1999"),
            ("updatedAt", "February 1, 1999"),
        ];
        let size: usize = strings.iter().map(|(n, v)| string_attribute_size(n, v)).sum();
        assert_eq!(size + number_attribute_size("expiresAt", "2099"), 141);
    }

    #[test]
    fn a_stored_item_counts_every_attribute_the_table_holds() {
        let mut item = Item::new(Key::new("ORDER#o-1", "ORDER"), "{}".into())
            .with_index(Index::Gsi1, "CUSTOMER#c", "2026#o-1")
            .with_index(Index::Gsi2, "DUE#01", "2026#o-1");
        // pk 2+9, sk 2+5, version 7+2, body 4+2, gsi1 6+10 6+8, gsi2 6+6 6+8.
        assert_eq!(item.stored_size(1), 11 + 7 + 9 + 6 + 16 + 14 + 12 + 14);
        // Version 1234567890 has nine significant digits: 5 + 1 bytes, not 1 + 1.
        assert_eq!(item.stored_size(1_234_567_890) - item.stored_size(1), 4);
        // `ttl` 3 + (2 significant digits: 1 + 1).
        item.expires_at = Some(1_800_000_000);
        assert_eq!(item.stored_size(1), 89 + 3 + 2);
    }

    #[test]
    fn an_item_over_the_limit_is_a_store_error_naming_it() {
        let key = Key::new("ORDER#o-1", "ORDER");
        let overhead = Item::new(key.clone(), String::new()).stored_size(1);
        let fits = Item::new(key.clone(), "x".repeat(MAX_ITEM_BYTES - overhead));
        assert_eq!(fits.stored_size(1), MAX_ITEM_BYTES);
        assert_eq!(fits.check_size(1), Ok(()));
        let over = Item::new(key, "x".repeat(MAX_ITEM_BYTES - overhead + 1));
        let Err(StoreError::Backend(message)) = over.check_size(1) else { panic!("over the limit") };
        assert!(message.starts_with("item ORDER#o-1/ORDER would be 409601 bytes"), "{message}");
    }

    #[test]
    fn message_sizes_count_body_and_attributes() {
        let attributes = BTreeMap::from([("type".to_string(), "order.dispatched".to_string())]);
        assert_eq!(message_size("{}", &attributes), 2 + 4 + 6 + 16);
        assert_eq!(message_size("é", &BTreeMap::new()), 2);
    }

    #[test]
    fn outboxes_round_trip_through_the_shared_codec_at_any_size() {
        let message = |body: String| OutboundMessage {
            id: "m-1".into(),
            topic: "order-events".into(),
            body,
            attributes: BTreeMap::from([("type".to_string(), "order.dispatched".to_string())]),
            via: Default::default(),
        };
        // Hard to compress (a counter's digits) and past every first buffer guess.
        let big: String = (0..40_000u32).map(|i| (i * 7919 % 10_007).to_string()).collect();
        for messages in [vec![message("{}".into())], vec![message(big.clone()), message(big)]] {
            for encoding in [OutboxEncoding::Small, OutboxEncoding::Fast] {
                let bytes = encode_outbox_as(&messages, encoding);
                assert_eq!(decode_outbox(&bytes).unwrap(), messages);
                // Used again (the codec is reset between uses), it gives the same bytes.
                assert_eq!(encode_outbox_as(&messages, encoding), bytes);
            }
        }
        // A store that encodes first decides the bytes every later use sees.
        let item = Item::new(Key::new("a", "A"), "{}".into()).with_outbox(vec![message("{}".into())]);
        let put = Write::Put { item: item.clone(), condition: Condition::Always };
        put.encode_outbox(OutboxEncoding::Fast);
        let Write::Put { item: encoded, .. } = &put else { unreachable!() };
        let fast = encode_outbox_as(item.outbox().unwrap(), OutboxEncoding::Fast);
        assert_eq!(encoded.outbox_bytes(), Some(fast.as_slice()));
        // Its clones share them; an item no store encoded is stored small.
        assert_eq!(item.outbox_bytes(), Some(fast.as_slice()));
        let fresh = Item::new(Key::new("a", "A"), "{}".into()).with_outbox(vec![message("{}".into())]);
        assert_eq!(fresh.outbox_bytes(), Some(encode_outbox(item.outbox().unwrap()).as_slice()));
        assert_ne!(fresh.outbox_bytes(), Some(fast.as_slice()));
    }

    #[test]
    fn an_embedded_store_keeps_a_small_outbox_uncompressed_and_deflates_a_larger_one() {
        let message = |body: String| OutboundMessage {
            id: "m-1".into(),
            topic: "order-events".into(),
            body,
            attributes: BTreeMap::new(),
            via: Default::default(),
        };
        let json_len = |messages: &[OutboundMessage]| serde_json::to_vec(messages).unwrap().len();
        let overhead = json_len(&[message(String::new())]);
        let at_most = vec![message("x".repeat(STORED_OUTBOX_BYTES - overhead))];
        assert_eq!(json_len(&at_most), STORED_OUTBOX_BYTES);
        let bytes = encode_outbox_as(&at_most, OutboxEncoding::Fast);
        // One final stored block: its header, then the JSON as it is.
        assert_eq!(bytes.len(), STORED_OUTBOX_BYTES + 5);
        assert_eq!(bytes.get(5..), Some(serde_json::to_vec(&at_most).unwrap().as_slice()));
        assert_eq!(decode_outbox(&bytes).unwrap(), at_most);
        let over = vec![message("x".repeat(STORED_OUTBOX_BYTES - overhead + 1))];
        let bytes = encode_outbox_as(&over, OutboxEncoding::Fast);
        assert!(bytes.len() < STORED_OUTBOX_BYTES / 10, "{}", bytes.len());
        assert_eq!(decode_outbox(&bytes).unwrap(), over);
        // DynamoDB's bytes are compressed at any size.
        assert!(encode_outbox_as(&at_most, OutboxEncoding::Small).len() < STORED_OUTBOX_BYTES / 10);
    }

    #[test]
    fn truncated_and_oversized_outboxes_are_refused() {
        let messages: Vec<OutboundMessage> = Vec::new();
        let bytes = encode_outbox(&messages);
        assert!(decode_outbox(bytes.get(..bytes.len() - 1).unwrap()).unwrap_err().contains("not deflated data"));
        let stored = encode_outbox_as(&messages, OutboxEncoding::Fast);
        assert!(decode_outbox(stored.get(..stored.len() - 1).unwrap()).unwrap_err().contains("not deflated data"));
        let zeros = super::codec::deflate(&vec![b' '; 9 * 1024 * 1024], OutboxEncoding::Small);
        let e = decode_outbox(&zeros).unwrap_err();
        assert!(e.contains("inflates past"), "{e}");
    }
}
