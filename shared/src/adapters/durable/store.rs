//! The table on SQLite, with the in-memory store's semantics
//! ([`crate::adapters::embedded::EmbeddedStore`]): conditional puts and deletes,
//! versioned updates, all-or-nothing transactions, DynamoDB's item size limit, ordered
//! keys-only index queries. Every applied write appends its [`Change`] in the same
//! SQLite transaction as the write, so the two commit (and survive a crash) together.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, TransactionBehavior};

use super::codec::{self, Row};
use super::table::{expected_image, target, Db};
use super::Shared;
use crate::adapters::embedded::{Change, ChangeFeed, Faults};
use crate::error::StoreError;
use crate::ports::{Index, IndexQuery, Item, Key, OutboxEncoding, Page, StateStore, Write};

pub struct DurableStore {
    shared: Arc<Shared>,
    faults: Arc<dyn Faults>,
    cursors: crate::adapters::embedded::Cursors,
}

impl DurableStore {
    pub(super) fn new(shared: Arc<Shared>, faults: Arc<dyn Faults>) -> DurableStore {
        DurableStore { shared, faults, cursors: Default::default() }
    }

    /// How many items the table holds, for inspection in tests and benchmarks.
    pub fn len(&self) -> Result<usize, StoreError> {
        let conn = self.shared.conn();
        let db = Db { conn: &conn, shared: &self.shared };
        let n: i64 = db.row("SELECT COUNT(*) FROM items", [], "the item count")?.unwrap_or(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// The sequence number of the latest change ever recorded (0 before the first),
    /// trimmed or not.
    pub fn last_sequence(&self) -> Result<u64, StoreError> {
        let conn = self.shared.conn();
        let db = Db { conn: &conn, shared: &self.shared };
        let seq: Option<i64> = db.row("SELECT seq FROM sqlite_sequence WHERE name = 'changes'", [], "the sequence")?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    fn backend(&self, e: &rusqlite::Error) -> StoreError {
        StoreError::Backend(self.shared.failed(e))
    }
}

#[async_trait]
impl StateStore for DurableStore {
    /// Nothing bills the bytes here: the fastest deflate.
    fn outbox_encoding(&self) -> OutboxEncoding {
        OutboxEncoding::Fast
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let row = {
            let conn = self.shared.conn();
            Db { conn: &conn, shared: &self.shared }.load(key)?
        };
        Ok(row.map(Row::into_item))
    }

    async fn write(&self, write: Write) -> Result<u64, StoreError> {
        self.faults.before_write(&write)?;
        write.encode_outbox(self.outbox_encoding());
        let image = expected_image(&write);
        let version = {
            let mut conn = self.shared.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.backend(&e))?;
            let db = Db { conn: &tx, shared: &self.shared };
            let old = db.checked(&write)?;
            let version = db.apply(&write, old, image)?;
            tx.commit().map_err(|e| self.backend(&e))?;
            version
        };
        self.faults.after_write(&write)?;
        Ok(version)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut images = Vec::with_capacity(writes.len());
        for write in &writes {
            self.faults.before_write(write)?;
            write.encode_outbox(self.outbox_encoding());
            images.push(expected_image(write));
        }
        {
            let mut conn = self.shared.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.backend(&e))?;
            let db = Db { conn: &tx, shared: &self.shared };
            let mut seen = BTreeSet::new();
            let mut olds = Vec::with_capacity(writes.len());
            for write in &writes {
                let (key, _) = target(write);
                if !seen.insert(key.clone()) {
                    return Err(StoreError::Backend(format!("transaction writes {}/{} twice", key.pk, key.sk)));
                }
                olds.push(db.checked(write)?);
            }
            for ((write, old), image) in writes.iter().zip(olds).zip(images) {
                db.apply(write, old, image)?;
            }
            tx.commit().map_err(|e| self.backend(&e))?;
        }
        for write in &writes {
            self.faults.after_write(write)?;
        }
        Ok(())
    }

    async fn query(&self, query: IndexQuery) -> Result<Page, StoreError> {
        let conn = self.shared.conn();
        let db = Db { conn: &conn, shared: &self.shared };
        let index = query.index.name();
        // Resume after the previous page's last item where it was when read
        // ([`crate::adapters::embedded::Cursors`]); for a cursor not handed out here, where
        // it is now; if it has left the index, from the range's beginning.
        let after = match &query.after {
            Some(k) if self.cursors.position(query.index, k).is_some() => {
                self.cursors.position(query.index, k).map(|isk| (isk, k))
            }
            Some(k) => db
                .row::<String>(
                    "SELECT isk FROM index_entries WHERE pk = ?1 AND sk = ?2 AND idx = ?3",
                    params![k.pk, k.sk, index],
                    &format!("the {index} entry of {}/{}", k.pk, k.sk),
                )?
                .map(|isk| (isk, k)),
            None => None,
        };
        // One more than a page, to learn whether there is more.
        let entries = db.index_range(&query, after, query.limit.saturating_add(1))?;
        let more = entries.len() > query.limit;
        let mut items = Vec::with_capacity(query.limit.min(entries.len()));
        for (isk, key) in entries.into_iter().take(query.limit) {
            items.push(projected(&db, query.index, &query.pk, isk, key)?);
        }
        let next = if more { items.last() } else { None };
        if let Some(last) = next {
            self.cursors.remember(query.index, last);
        }
        Ok(Page { next: next.map(|i: &Item| i.key.clone()), items })
    }
}

/// What a query of `index` returns of the item at `key`: its keys for a keys-only
/// index, as DynamoDB does, else all of it.
fn projected(db: &Db<'_>, index: Index, ipk: &str, isk: String, key: Key) -> Result<Item, StoreError> {
    if index.keys_only() {
        let mut keys = Item::new(key, String::new());
        keys.index_keys.insert(index, Key::new(ipk, isk));
        return Ok(keys);
    }
    let what = format!("item {}/{}", key.pk, key.sk);
    let row = db.load(&key)?.ok_or_else(|| StoreError::Corrupt(format!("{what}: indexed in {index:?} but absent")))?;
    Ok(row.into_item())
}

impl ChangeFeed for DurableStore {
    fn read_changes(&self, after: u64, max: usize) -> Result<Vec<std::sync::Arc<Change>>, StoreError> {
        let conn = self.shared.conn();
        let db = Db { conn: &conn, shared: &self.shared };
        let what = "reading the change feed";
        let mut stmt = conn
            .prepare_cached(
                "SELECT sequence, pk, sk, old, old_outbox, new, new_outbox FROM changes
                 WHERE sequence > ?1 ORDER BY sequence LIMIT ?2",
            )
            .map_err(|e| db.error(e, what))?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        type Image = (Option<String>, Option<Vec<u8>>);
        let rows: Vec<(i64, Key, Image, Image)> = stmt
            .query_map(params![after, codec::limit(max)], |r| {
                let key = Key::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?);
                Ok((r.get::<_, i64>(0)?, key, (r.get(3)?, r.get(4)?), (r.get(5)?, r.get(6)?)))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| db.error(e, what))?;
        // Decoded with the connection let go, for the other threads to use meanwhile.
        drop(stmt);
        drop(conn);
        let mut changes = Vec::with_capacity(rows.len());
        for (sequence, key, old, new) in rows {
            let corrupt = |e: String| StoreError::Corrupt(format!("change {sequence}: {e}"));
            let image = |(json, outbox): (Option<String>, Option<Vec<u8>>)| -> Result<Option<Item>, StoreError> {
                let Some(json) = json else { return Ok(None) };
                let row = Row::from_image(key.clone(), &json, outbox).map_err(corrupt)?;
                Ok(Some(row.into_item()))
            };
            let (old, new) = (image(old)?, image(new)?);
            let sequence = u64::try_from(sequence).map_err(|_| corrupt("a negative sequence number".into()))?;
            changes.push(std::sync::Arc::new(Change { sequence, key, old, new }));
        }
        Ok(changes)
    }

    fn trim_changes(&self, through: u64) -> Result<(), StoreError> {
        let conn = self.shared.conn();
        let db = Db { conn: &conn, shared: &self.shared };
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        db.execute("DELETE FROM changes WHERE sequence <= ?1", params![through], "trimming the change feed")?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
