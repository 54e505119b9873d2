//! People's work queues on the sparse index `gsi3`: a team's audit exceptions by state
//! (`EXCEPTIONS#<team>#OPEN|CLOSED`) and the refunds awaiting a reviewer
//! (`REVIEW#platform`, `REVIEW#seller#<seller_id>`), newest first. Only an item in a
//! queue has `gsi3` keys, so every other write costs the index nothing.
//!
//! A page is read after an opaque cursor: the queue and the index sort key of the last
//! entry shown, base64url JSON. The next page starts at that sort key (inclusive) and
//! drops the entry itself, so it continues exactly even when that entry has left the
//! queue meanwhile, and needs no memory of earlier pages. A cursor of another queue, or
//! one this API did not give out, is refused naming `cursor`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::exception::ExceptionState;
use crate::error::{Error, Result};
use crate::ports::{Index, IndexQuery, Item, StateStore};

/// Most entries a page shows; the default when the caller names no `limit`.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 20;

/// The `limit` query parameter: [`DEFAULT_PAGE`] when absent, else 1 to [`MAX_PAGE`].
pub fn parse_limit(text: Option<&str>) -> Result<u32> {
    match text.map(str::parse::<u32>) {
        None => Ok(DEFAULT_PAGE),
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::validation("limit", format!("must be a whole number from 1 to {MAX_PAGE}"))),
    }
}

/// The queue of `team`'s exceptions in `state`.
pub fn exceptions_pk(team: &str, state: ExceptionState) -> String {
    let state = match state {
        ExceptionState::Open => "OPEN",
        ExceptionState::Closed => "CLOSED",
    };
    format!("EXCEPTIONS#{team}#{state}")
}

/// The queue of refunds awaiting a reviewer of `role`; a seller's own queue.
pub fn review_pk(role: &str, seller: Option<&str>) -> String {
    match seller {
        Some(seller) => format!("REVIEW#{role}#{seller}"),
        None => format!("REVIEW#{role}"),
    }
}

/// A sort key that orders newest first in the index's ascending order: the
/// microseconds left until the latest time chrono represents, fixed width, then `id`.
pub fn newest_first(t: DateTime<Utc>, id: &str) -> String {
    let left = DateTime::<Utc>::MAX_UTC.timestamp_micros().saturating_sub(t.timestamp_micros());
    format!("{left:020}#{id}")
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// The queue it belongs to.
    q: String,
    /// The index sort key of the last entry shown.
    k: String,
}

/// Longest cursor accepted; far above any this API gives out.
const MAX_CURSOR_CHARS: usize = 512;

fn encode_cursor(queue: &str, sort_key: &str) -> String {
    let cursor = Cursor { q: queue.to_string(), k: sort_key.to_string() };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn decode_cursor(queue: &str, text: &str) -> Result<String> {
    let refused = || Error::malformed("cursor", "is not a cursor this API gave out for this list");
    if text.len() > MAX_CURSOR_CHARS {
        return Err(refused());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| refused())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| refused())?;
    if cursor.q != queue || cursor.k.is_empty() {
        return Err(refused());
    }
    Ok(cursor.k)
}

/// One page of a queue: the items (read whole and consistently) and the cursor of the
/// next page, `None` at the end.
#[derive(Debug, Default)]
pub struct QueuePage {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

/// Up to `limit` items of `queue`, newest first, after `cursor`. An entry whose item
/// has left the queue since the index was written is left out.
pub async fn page(store: &dyn StateStore, queue: &str, cursor: Option<&str>, limit: u32) -> Result<QueuePage> {
    let from = cursor.map(|c| decode_cursor(queue, c)).transpose()?;
    let limit = usize::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1);
    let query = IndexQuery {
        index: Index::Gsi3,
        pk: queue.to_string(),
        sk_from: from.clone(),
        sk_to: None,
        // The anchor itself, the page, and one more to tell whether there is a next page.
        limit: limit.saturating_add(2),
        after: None,
    };
    let found = store.query(query).await?;
    let mut entries: Vec<(Item, String)> = found
        .items
        .into_iter()
        .filter_map(|i| i.index_keys.get(&Index::Gsi3).map(|k| k.sk.clone()).map(|sk| (i, sk)))
        .filter(|(_, sk)| Some(sk) != from.as_ref())
        .collect();
    let more = entries.len() > limit || (found.next.is_some() && !entries.is_empty());
    entries.truncate(limit);
    let next = if more { entries.last().map(|(_, sk)| encode_cursor(queue, sk)) } else { None };
    let mut items = Vec::with_capacity(entries.len());
    for (entry, _) in entries {
        let Some(item) = store.get(&entry.key).await? else { continue };
        if item.index_keys.get(&Index::Gsi3).is_some_and(|k| k.pk == queue) {
            items.push(item);
        }
    }
    Ok(QueuePage { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn later_times_sort_first() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let (older, newer) = (newest_first(t, "o-1"), newest_first(t + chrono::Duration::microseconds(1), "o-0"));
        assert!(newer < older);
        assert_eq!(older.len(), newer.len());
    }

    #[test]
    fn cursors_are_ours_and_for_their_queue_only() {
        let c = encode_cursor("EXCEPTIONS#inventory#OPEN", "123#o-1");
        assert_eq!(decode_cursor("EXCEPTIONS#inventory#OPEN", &c).unwrap(), "123#o-1");
        for bad in [c.as_str(), "nope", "", "eyJ4IjoxfQ", &"A".repeat(600)] {
            let err = decode_cursor("EXCEPTIONS#payments#OPEN", bad).unwrap_err();
            assert!(matches!(&err, Error::Malformed { field, .. } if field == "cursor"), "{bad}: {err}");
        }
    }
}
