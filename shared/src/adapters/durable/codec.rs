//! How the durable backend keeps values in rows: an item as its stored form ([`Row`]:
//! the outbox as the bytes the table holds, decoded only when read), an item image of
//! the change feed (a JSON line, then the body: [`image`]) beside its outbox bytes, an
//! item's index keys as a JSON object, times as Unix nanoseconds, attribute maps as
//! JSON objects.

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

    /// The row an image (and its outbox bytes) describes: an image as [`image`] writes
    /// it, or as format 1 wrote it (one JSON object, the body escaped in it).
    pub fn from_image(key: Key, image: &str, outbox: Option<Vec<u8>>) -> Result<Row, String> {
        let unreadable = |e: serde_json::Error| format!("unreadable image: {e}");
        let (header, body) = match image.split_once('\n') {
            Some((header, body)) => (serde_json::from_str::<Header>(header).map_err(unreadable)?, body.to_string()),
            None => {
                let image: FormatOneImage = serde_json::from_str(image).map_err(unreadable)?;
                (image.header, image.body)
            }
        };
        let index_keys = index_keys_of(header.index_keys)?;
        Ok(Row { key, version: header.version, body, index_keys, expires_at: header.expires_at, outbox })
    }
}

/// The image of `item` stored at `version`, as [`Row::image`] writes it.
pub fn item_image(item: &Item, version: u64) -> Result<String, String> {
    image(&item.key, version, &item.body, &item.index_keys, item.expires_at)
}

/// An image of the change feed: a line of JSON with the row's version, index keys and
/// expiry ([`Header`]), then the body as it is. The body is the largest part of a row,
/// and is itself JSON: kept apart, it is neither escaped when written nor unescaped when
/// read. (A compact JSON line never holds a line break, so the first one ends it.)
fn image(
    key: &Key,
    version: u64,
    body: &str,
    index_keys: &BTreeMap<Index, Key>,
    expires_at: Option<i64>,
) -> Result<String, String> {
    #[derive(Serialize)]
    struct HeaderOf<'a> {
        version: u64,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        index_keys: IndexKeysOf<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    }
    let header = HeaderOf { version, index_keys: index_keys_of_item(index_keys), expires_at };
    let mut image = serde_json::to_string(&header).map_err(|e| format!("the image of {}/{}: {e}", key.pk, key.sk))?;
    image.reserve(1 + body.len());
    image.push('\n');
    image.push_str(body);
    Ok(image)
}

/// Index name → (index pk, index sk), borrowed from an item.
type IndexKeysOf<'a> = BTreeMap<&'static str, (&'a str, &'a str)>;

fn index_keys_of_item(index_keys: &BTreeMap<Index, Key>) -> IndexKeysOf<'_> {
    index_keys.iter().map(|(i, k)| (i.name(), (k.pk.as_str(), k.sk.as_str()))).collect()
}

/// The `index_keys` column of an item's row: its index keys as a JSON object (index
/// name → `[pk, sk]`), or `NULL` for an item in no index.
pub(super) fn index_keys_column(index_keys: &BTreeMap<Index, Key>) -> Result<Option<String>, String> {
    if index_keys.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&index_keys_of_item(index_keys)).map(Some).map_err(|e| format!("the index keys: {e}"))
}

/// The index keys an `index_keys` column holds.
pub(super) fn index_keys_from_column(column: Option<&str>) -> Result<BTreeMap<Index, Key>, String> {
    let Some(json) = column else { return Ok(BTreeMap::new()) };
    let named = serde_json::from_str(json).map_err(|e| format!("unreadable index keys: {e}"))?;
    index_keys_of(named)
}

fn index_keys_of(named: BTreeMap<String, (String, String)>) -> Result<BTreeMap<Index, Key>, String> {
    let mut index_keys = BTreeMap::new();
    for (name, (pk, sk)) in named {
        index_keys.insert(index_named(&name)?, Key::new(pk, sk));
    }
    Ok(index_keys)
}

/// The first line of an image: everything of the row but its key (in the change's row),
/// body (after the line) and outbox (in a column of its own, as the bytes the item held).
#[derive(Deserialize)]
struct Header {
    version: u64,
    /// Index name → (index pk, index sk).
    #[serde(default)]
    index_keys: BTreeMap<String, (String, String)>,
    #[serde(default)]
    expires_at: Option<i64>,
}

/// An image as format 1 wrote it: one JSON object, the header's fields and the body
/// in it as a string.
#[derive(Deserialize)]
struct FormatOneImage {
    #[serde(flatten)]
    header: Header,
    body: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_keeps_a_body_of_any_text_as_it_is() {
        let key = Key::new("ORDER#o-1", "ORDER");
        for body in ["", "{}", "{\"a\":\"line\\none\"}", "two\nraw\nlines \"quoted\" \\ \u{2028}"] {
            let mut item = Item::new(key.clone(), body.into()).with_index(Index::Gsi1, "CUSTOMER#c", "t#o-1");
            item.expires_at = Some(-5);
            let image = item_image(&item, 4).unwrap();
            assert!(image.ends_with(body), "the body is not escaped: {image}");
            let row = Row::from_image(key.clone(), &image, None).unwrap();
            assert_eq!((row.version, row.body.as_str(), row.expires_at), (4, body, Some(-5)));
            assert_eq!(row.index_keys, item.index_keys);
        }
        let bare = item_image(&Item::new(key.clone(), "{}".into()), 1).unwrap();
        assert_eq!(bare, "{\"version\":1}\n{}");
        let row = Row::from_image(key, &bare, None).unwrap();
        assert!(row.index_keys.is_empty() && row.expires_at.is_none());
    }
}
