//! How the durable backend keeps values in rows: an item as its stored form ([`Row`]:
//! the outbox as the bytes the table holds, decoded only when read), an item image of
//! the change feed as JSON ([`Image`]) beside its outbox bytes, times as Unix
//! nanoseconds, attribute maps as JSON objects.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::{Index, Item, Key};

/// An item as stored: what a write copies into its change record without decoding
/// the outbox.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub key: Key,
    pub version: u64,
    pub body: String,
    pub index_keys: BTreeMap<Index, Key>,
    pub expires_at: Option<i64>,
    pub outbox: Option<Vec<u8>>,
}

impl Row {
    /// The item (its outbox decoded only when asked for: [`Item::with_stored_outbox`]).
    pub fn into_item(self) -> Item {
        let mut item = Item::new(self.key, self.body);
        item.version = self.version;
        item.index_keys = self.index_keys;
        item.expires_at = self.expires_at;
        match self.outbox {
            Some(bytes) => item.with_stored_outbox(bytes),
            None => item,
        }
    }

    /// The image of the change feed's `old`/`new` column (the outbox goes beside it).
    pub fn image(&self) -> Result<String, String> {
        image(&self.key, self.version, &self.body, &self.index_keys, self.expires_at)
    }

    /// The row an image (and its outbox bytes) describes.
    pub fn from_image(key: Key, image: &str, outbox: Option<Vec<u8>>) -> Result<Row, String> {
        let image: Image = serde_json::from_str(image).map_err(|e| format!("unreadable image: {e}"))?;
        let mut index_keys = BTreeMap::new();
        for (name, (pk, sk)) in image.index_keys {
            index_keys.insert(index_named(&name)?, Key::new(pk, sk));
        }
        Ok(Row { key, version: image.version, body: image.body, index_keys, expires_at: image.expires_at, outbox })
    }
}

/// The image of `item` stored at `version`, as [`Row::image`] writes it.
pub fn item_image(item: &Item, version: u64) -> Result<String, String> {
    image(&item.key, version, &item.body, &item.index_keys, item.expires_at)
}

/// An [`Image`] serialised from borrowed parts (the body is the largest part of a row).
fn image(
    key: &Key,
    version: u64,
    body: &str,
    index_keys: &BTreeMap<Index, Key>,
    expires_at: Option<i64>,
) -> Result<String, String> {
    #[derive(Serialize)]
    struct ImageOf<'a> {
        version: u64,
        body: &'a str,
        index_keys: BTreeMap<&'static str, (&'a str, &'a str)>,
        expires_at: Option<i64>,
    }
    let index_keys = index_keys.iter().map(|(i, k)| (i.name(), (k.pk.as_str(), k.sk.as_str()))).collect();
    serde_json::to_string(&ImageOf { version, body, index_keys, expires_at })
        .map_err(|e| format!("the image of {}/{}: {e}", key.pk, key.sk))
}

/// An item image of the change feed, without its key (in the row) and outbox (in a
/// column of its own, as the bytes the item held).
#[derive(Serialize, Deserialize)]
struct Image {
    version: u64,
    body: String,
    /// Index name → (index pk, index sk).
    #[serde(default)]
    index_keys: BTreeMap<String, (String, String)>,
    #[serde(default)]
    expires_at: Option<i64>,
}

/// The index an `idx` column names.
pub(super) fn index_named(name: &str) -> Result<Index, String> {
    Index::ALL.into_iter().find(|i| i.name() == name).ok_or_else(|| format!("unknown index {name:?}"))
}

/// A time as the database keeps it: Unix nanoseconds, which cover 1677 to 2262.
pub(super) fn nanos(at: DateTime<Utc>) -> Result<i64, String> {
    at.timestamp_nanos_opt().ok_or_else(|| format!("{at} is outside the times a data directory keeps (1677 to 2262)"))
}

/// A count or sequence number as an SQLite integer.
pub(super) fn int(n: u64) -> Result<i64, String> {
    i64::try_from(n).map_err(|_| format!("{n} is past the largest number a data directory keeps"))
}

/// A bound on rows (`LIMIT`), saturating: SQLite's `LIMIT` is an `i64`.
pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn attributes_json(attributes: &BTreeMap<String, String>) -> Result<String, String> {
    serde_json::to_string(attributes).map_err(|e| format!("the attributes: {e}"))
}

pub(super) fn attributes_from(json: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str(json).map_err(|e| format!("unreadable attributes: {e}"))
}

/// Whether reading a row failed on a value of the wrong type (a corrupt row), rather
/// than in the database.
pub(super) fn is_corrupt(e: &rusqlite::Error) -> bool {
    use rusqlite::Error as E;
    matches!(
        e,
        E::InvalidColumnType(..) | E::FromSqlConversionFailure(..) | E::IntegralValueOutOfRange(..) | E::Utf8Error(..)
    )
}
