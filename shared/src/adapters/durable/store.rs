//! The table on SQLite, with the in-memory store's semantics
//! ([`crate::adapters::embedded::EmbeddedStore`]): conditional puts and deletes,
//! versioned updates, all-or-nothing transactions, DynamoDB's item size limit, ordered
//! keys-only index queries. Every applied write appends its [`Change`] in the same
//! SQLite transaction as the write, so the two commit (and survive a crash) together.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::codec::{self, index_named, Row};
use super::Shared;
use crate::adapters::embedded::{ChangeFeed, Change, Faults};
use crate::error::StoreError;
use crate::ports::{Condition, Index, IndexQuery, Item, Key, Page, StateStore, Write};

pub struct DurableStore {
    shared: Arc<Shared>,
    faults: Arc<dyn Faults>,
}

impl DurableStore {
    pub(super) fn new(shared: Arc<Shared>, faults: Arc<dyn Faults>) -> DurableStore {
        DurableStore { shared, faults }
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

/// The connection (or a transaction on it) and how to name its failures.
struct Db<'a> {
    conn: &'a Connection,
    shared: &'a Shared,
}

impl Db<'_> {
    /// A failure reading `what`: a value of the wrong type is a corrupt row, anything
    /// else the database's failure.
    fn error(&self, e: rusqlite::Error, what: &str) -> StoreError {
        use rusqlite::Error as E;
        match e {
            E::InvalidColumnType(..) | E::FromSqlConversionFailure(..) | E::IntegralValueOutOfRange(..) => {
                StoreError::Corrupt(format!("{what}: {e}"))
            }
            e => StoreError::Backend(format!("{what}: {}", self.shared.failed(&e))),
        }
    }

    /// The first column of the first row of `sql`, if there is a row.
    fn row<T: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, what))?;
        stmt.query_row(params, |r| r.get(0)).optional().map_err(|e| self.error(e, what))
    }

    fn execute(&self, sql: &str, params: impl rusqlite::Params, what: &str) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, what))?;
        stmt.execute(params).map_err(|e| self.error(e, what))
    }

    /// The item at `key` as stored.
    fn load(&self, key: &Key) -> Result<Option<Row>, StoreError> {
        let what = format!("item {}/{}", key.pk, key.sk);
        let sql = "SELECT version, body, expires_at, outbox FROM items WHERE pk = ?1 AND sk = ?2";
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, &what))?;
        let columns = stmt
            .query_row(params![key.pk, key.sk], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?, r.get(3)?))
            })
            .optional()
            .map_err(|e| self.error(e, &what))?;
        let Some((version, body, expires_at, outbox)) = columns else { return Ok(None) };
        let version = u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("{what}: version {version}")))?;
        let mut row = Row { key: key.clone(), version, body, index_keys: Default::default(), expires_at, outbox };
        let sql = "SELECT idx, ipk, isk FROM index_entries WHERE pk = ?1 AND sk = ?2";
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, &what))?;
        let entries = stmt
            .query_map(params![key.pk, key.sk], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| self.error(e, &what))?;
        for entry in entries {
            let (idx, ipk, isk) = entry.map_err(|e| self.error(e, &what))?;
            let index = index_named(&idx).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
            row.index_keys.insert(index, Key::new(ipk, isk));
        }
        Ok(Some(row))
    }

    /// Loads the item `write` targets and checks its condition, and that a put fits
    /// DynamoDB's item size limit; returns the item as it is.
    fn checked(&self, write: &Write) -> Result<Option<Row>, StoreError> {
        let (key, condition) = target(write);
        let old = self.load(key)?;
        let current = old.as_ref().map(|r| r.version);
        let ok = match condition {
            Condition::Always => true,
            Condition::NotExists => current.is_none(),
            Condition::VersionIs(v) => current == Some(v),
        };
        if !ok {
            return Err(StoreError::ConditionFailed);
        }
        if let Write::Put { item, .. } = write {
            item.check_size(next_version(current))?;
        }
        Ok(old)
    }

    /// Applies a checked write over `old` and records its change; returns the new
    /// version (0 for a delete).
    fn apply(&self, write: &Write, old: Option<Row>) -> Result<u64, StoreError> {
        match write {
            Write::Put { item, .. } => {
                let row = Row::stored(item, next_version(old.as_ref().map(|r| r.version)));
                let what = format!("writing item {}/{}", row.key.pk, row.key.sk);
                if old.is_some() {
                    self.unindex(&row.key, &what)?;
                }
                self.execute(
                    "INSERT INTO items (pk, sk, version, body, expires_at, outbox) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, body = excluded.body,
                     expires_at = excluded.expires_at, outbox = excluded.outbox",
                    params![row.key.pk, row.key.sk, self.int(row.version)?, row.body, row.expires_at, row.outbox],
                    &what,
                )?;
                for (index, ik) in &row.index_keys {
                    self.execute(
                        "INSERT INTO index_entries (idx, ipk, isk, pk, sk) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![index.name(), ik.pk, ik.sk, row.key.pk, row.key.sk],
                        &what,
                    )?;
                }
                self.record(&row.key, old.as_ref(), Some(&row))?;
                Ok(row.version)
            }
            Write::Delete { key, .. } => {
                // A delete of nothing changes nothing, and a stream records nothing for it.
                if let Some(old) = old {
                    let what = format!("deleting item {}/{}", key.pk, key.sk);
                    self.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk], &what)?;
                    self.unindex(key, &what)?;
                    self.record(key, Some(&old), None)?;
                }
                Ok(0)
            }
        }
    }

    fn unindex(&self, key: &Key, what: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM index_entries WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk], what)?;
        Ok(())
    }

    fn record(&self, key: &Key, old: Option<&Row>, new: Option<&Row>) -> Result<(), StoreError> {
        let image = |row: Option<&Row>| row.map(Row::image).transpose().map_err(StoreError::Backend);
        let (old_outbox, new_outbox) = (old.and_then(|r| r.outbox.as_deref()), new.and_then(|r| r.outbox.as_deref()));
        self.execute(
            "INSERT INTO changes (pk, sk, old, old_outbox, new, new_outbox) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.pk, key.sk, image(old)?, old_outbox, image(new)?, new_outbox],
            &format!("recording the change of item {}/{}", key.pk, key.sk),
        )?;
        Ok(())
    }

    fn int(&self, n: u64) -> Result<i64, StoreError> {
        codec::int(n).map_err(StoreError::Backend)
    }
}

fn next_version(current: Option<u64>) -> u64 {
    current.unwrap_or(0).saturating_add(1)
}

fn target(write: &Write) -> (&Key, Condition) {
    match write {
        Write::Put { item, condition } => (&item.key, *condition),
        Write::Delete { key, condition } => (key, *condition),
    }
}

#[async_trait]
impl StateStore for DurableStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let conn = self.shared.conn();
        let row = Db { conn: &conn, shared: &self.shared }.load(key)?;
        row.map(Row::into_item)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("item {}/{}: {e}", key.pk, key.sk)))
    }

    async fn write(&self, write: Write) -> Result<u64, StoreError> {
        self.faults.before_write(&write)?;
        let version = {
            let mut conn = self.shared.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.backend(&e))?;
            let db = Db { conn: &tx, shared: &self.shared };
            let old = db.checked(&write)?;
            let version = db.apply(&write, old)?;
            tx.commit().map_err(|e| self.backend(&e))?;
            version
        };
        self.faults.after_write(&write)?;
        Ok(version)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        for write in &writes {
            self.faults.before_write(write)?;
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
            for (write, old) in writes.iter().zip(olds) {
                db.apply(write, old)?;
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
        // Resume after the previous page's last item; if it has since left the index,
        // start from the range's beginning (callers of due-work queries re-read anyway).
        let after = match &query.after {
            Some(k) => db
                .row::<String>(
                    "SELECT isk FROM index_entries WHERE pk = ?1 AND sk = ?2 AND idx = ?3",
                    params![k.pk, k.sk, index],
                    &format!("the {index} entry of {}/{}", k.pk, k.sk),
                )?
                .map(|isk| (isk, k)),
            None => None,
        };
        let what = format!("querying {index} at {}", query.pk);
        let mut stmt = conn
            .prepare_cached(
                "SELECT isk, pk, sk FROM index_entries
                 WHERE idx = ?1 AND ipk = ?2 AND isk >= ?3 AND (?4 IS NULL OR isk <= ?4)
                   AND (?5 IS NULL OR (isk, pk, sk) > (?5, ?6, ?7))
                 ORDER BY isk, pk, sk LIMIT ?8",
            )
            .map_err(|e| db.error(e, &what))?;
        let (a_sk, a_pk, a_key_sk) = match &after {
            Some((isk, k)) => (Some(isk.as_str()), Some(k.pk.as_str()), Some(k.sk.as_str())),
            None => (None, None, None),
        };
        let from = query.sk_from.as_deref().unwrap_or_default();
        // One more than a page, to learn whether there is more.
        let limit = codec::limit(query.limit.saturating_add(1));
        let rows = stmt
            .query_map(params![index, query.pk, from, query.sk_to, a_sk, a_pk, a_key_sk, limit], |r| {
                Ok((r.get::<_, String>(0)?, Key::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            })
            .map_err(|e| db.error(e, &what))?;
        let mut items = Vec::new();
        let mut more = false;
        for row in rows {
            let (isk, key) = row.map_err(|e| db.error(e, &what))?;
            if items.len() == query.limit {
                more = true;
                break;
            }
            items.push(projected(&db, query.index, &query.pk, isk, key)?);
        }
        let next = if more { items.last().map(|i: &Item| i.key.clone()) } else { None };
        Ok(Page { items, next })
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
    row.into_item().map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl ChangeFeed for DurableStore {
    fn read_changes(&self, after: u64, max: usize) -> Result<Vec<Change>, StoreError> {
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
        let rows = stmt
            .query_map(params![after, codec::limit(max)], |r| {
                let key = Key::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?);
                let old: (Option<String>, Option<Vec<u8>>) = (r.get(3)?, r.get(4)?);
                let new: (Option<String>, Option<Vec<u8>>) = (r.get(5)?, r.get(6)?);
                Ok((r.get::<_, i64>(0)?, key, old, new))
            })
            .map_err(|e| db.error(e, what))?;
        let mut changes = Vec::new();
        for row in rows {
            let (sequence, key, old, new) = row.map_err(|e| db.error(e, what))?;
            let corrupt = |e: String| StoreError::Corrupt(format!("change {sequence}: {e}"));
            let image = |(json, outbox): (Option<String>, Option<Vec<u8>>)| -> Result<Option<Item>, StoreError> {
                let Some(json) = json else { return Ok(None) };
                let row = Row::from_image(key.clone(), &json, outbox).map_err(corrupt)?;
                row.into_item().map(Some).map_err(corrupt)
            };
            let (old, new) = (image(old)?, image(new)?);
            let sequence = u64::try_from(sequence).map_err(|_| corrupt("a negative sequence number".into()))?;
            changes.push(Change { sequence, key, old, new });
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
