//! The table's SQL: reading an item, checking and applying a write with its change
//! record, and scanning an index, on a connection or a transaction the caller holds.

use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{self, Row};
use super::Shared;
use crate::error::StoreError;
use crate::ports::{Condition, IndexQuery, Key, Write};

/// The connection (or a transaction on it) and how to name its failures.
pub(super) struct Db<'a> {
    pub conn: &'a Connection,
    pub shared: &'a Shared,
}

impl Db<'_> {
    /// A failure reading `what`: a value of the wrong type is a corrupt row, anything
    /// else the database's failure.
    pub fn error(&self, e: rusqlite::Error, what: &str) -> StoreError {
        if codec::is_corrupt(&e) {
            StoreError::Corrupt(format!("{what}: {e}"))
        } else {
            StoreError::Backend(format!("{what}: {}", self.shared.failed(&e)))
        }
    }

    /// The first column of the first row of `sql`, if there is a row.
    pub fn row<T: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, what))?;
        stmt.query_row(params, |r| r.get(0)).optional().map_err(|e| self.error(e, what))
    }

    pub fn execute(&self, sql: &str, params: impl rusqlite::Params, what: &str) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, what))?;
        stmt.execute(params).map_err(|e| self.error(e, what))
    }

    /// The item at `key` as stored.
    pub fn load(&self, key: &Key) -> Result<Option<Row>, StoreError> {
        let what = format!("item {}/{}", key.pk, key.sk);
        let sql = "SELECT version, body, expires_at, outbox, index_keys FROM items WHERE pk = ?1 AND sk = ?2";
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e, &what))?;
        let columns = stmt
            .query_row(params![key.pk, key.sk], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()
            .map_err(|e| self.error(e, &what))?;
        let Some((version, body, expires_at, outbox, index_keys)) = columns else { return Ok(None) };
        let version = u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("{what}: version {version}")))?;
        let index_keys = codec::index_keys_from_column(index_keys.as_deref())
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
        let row = Row { key: key.clone(), version, body, index_keys, expires_at, outbox };
        Ok(Some(row))
    }

    /// Loads the item `write` targets and checks its condition, and that a put fits
    /// DynamoDB's item size limit; returns the item as it is.
    pub fn checked(&self, write: &Write) -> Result<Option<Row>, StoreError> {
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
    /// version (0 for a delete). `image` is the put's change image if it was made
    /// before the connection was taken ([`expected_image`]), for the version it
    /// expected.
    pub fn apply(&self, write: &Write, old: Option<Row>, image: Option<(u64, String)>) -> Result<u64, StoreError> {
        match write {
            Write::Put { item, .. } => {
                let version = next_version(old.as_ref().map(|r| r.version));
                let key = &item.key;
                let what = format!("writing item {}/{}", key.pk, key.sk);
                // Only the index entries that change are written: most writes keep them.
                if let Some(old) = &old {
                    for (index, ik) in
                        old.index_keys.iter().filter(|(index, ik)| item.index_keys.get(index) != Some(ik))
                    {
                        self.execute(
                            "DELETE FROM index_entries WHERE idx = ?1 AND ipk = ?2 AND isk = ?3 AND pk = ?4 AND sk = ?5",
                            params![index.name(), ik.pk, ik.sk, key.pk, key.sk],
                            &what,
                        )?;
                    }
                }
                let outbox = item.outbox_bytes();
                let index_keys = codec::index_keys_column(&item.index_keys).map_err(StoreError::Backend)?;
                self.execute(
                    "INSERT INTO items (pk, sk, version, body, expires_at, outbox, index_keys)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, body = excluded.body,
                     expires_at = excluded.expires_at, outbox = excluded.outbox, index_keys = excluded.index_keys",
                    params![key.pk, key.sk, self.int(version)?, item.body, item.expires_at, outbox, index_keys],
                    &what,
                )?;
                let added = item
                    .index_keys
                    .iter()
                    .filter(|(index, ik)| old.as_ref().is_none_or(|o| o.index_keys.get(index) != Some(*ik)));
                for (index, ik) in added {
                    self.execute(
                        "INSERT INTO index_entries (idx, ipk, isk, pk, sk) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![index.name(), ik.pk, ik.sk, key.pk, key.sk],
                        &what,
                    )?;
                }
                let image = match image {
                    Some((expected, image)) if expected == version => image,
                    _ => codec::item_image(item, version).map_err(StoreError::Backend)?,
                };
                let old_image = old.as_ref().map(Row::image).transpose().map_err(StoreError::Backend)?;
                let old_outbox = old.as_ref().and_then(|r| r.outbox.as_deref());
                self.record(key, (old_image, old_outbox), (Some(image), outbox))?;
                Ok(version)
            }
            Write::Delete { key, .. } => {
                // A delete of nothing changes nothing, and a stream records nothing for it.
                if let Some(old) = old {
                    let what = format!("deleting item {}/{}", key.pk, key.sk);
                    self.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk], &what)?;
                    self.unindex(key, &what)?;
                    let old_image = old.image().map_err(StoreError::Backend)?;
                    self.record(key, (Some(old_image), old.outbox.as_deref()), (None, None))?;
                }
                Ok(0)
            }
        }
    }

    fn unindex(&self, key: &Key, what: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM index_entries WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk], what)?;
        Ok(())
    }

    /// Appends the change of the item at `key`: its old and new images, each with its
    /// outbox bytes.
    fn record(&self, key: &Key, old: Image<'_>, new: Image<'_>) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO changes (pk, sk, old, old_outbox, new, new_outbox) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.pk, key.sk, old.0, old.1, new.0, new.1],
            &format!("recording the change of item {}/{}", key.pk, key.sk),
        )?;
        Ok(())
    }

    /// Up to `max` entries of the query's index range, as (index sk, table key), in
    /// index order and past `after` (an index sk and table key).
    pub fn index_range(
        &self,
        query: &IndexQuery,
        after: Option<(String, &Key)>,
        max: usize,
    ) -> Result<Vec<(String, Key)>, StoreError> {
        let what = format!("querying {} at {}", query.index.name(), query.pk);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT isk, pk, sk FROM index_entries
                 WHERE idx = ?1 AND ipk = ?2 AND isk >= ?3 AND (?4 IS NULL OR isk <= ?4)
                   AND (?5 IS NULL OR (isk, pk, sk) > (?5, ?6, ?7))
                 ORDER BY isk, pk, sk LIMIT ?8",
            )
            .map_err(|e| self.error(e, &what))?;
        let (a_isk, a_pk, a_sk) = match &after {
            Some((isk, k)) => (Some(isk.as_str()), Some(k.pk.as_str()), Some(k.sk.as_str())),
            None => (None, None, None),
        };
        let from = query.sk_from.as_deref().unwrap_or_default();
        let params = params![query.index.name(), query.pk, from, query.sk_to, a_isk, a_pk, a_sk, codec::limit(max)];
        let rows = stmt
            .query_map(params, |r| {
                Ok((r.get::<_, String>(0)?, Key::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            })
            .map_err(|e| self.error(e, &what))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e, &what))
    }

    fn int(&self, n: u64) -> Result<i64, StoreError> {
        codec::int(n).map_err(StoreError::Backend)
    }
}

/// A change image as its two columns: the image's JSON and the outbox bytes beside it.
type Image<'a> = (Option<String>, Option<&'a [u8]>);

/// The change image of a put, made before the connection is taken, for the version the
/// put expects to store: one more than the version its condition names, or 1 for a
/// creation. `None` where the version is known only once the item is read.
pub(super) fn expected_image(write: &Write) -> Option<(u64, String)> {
    let Write::Put { item, condition } = write else { return None };
    let version = match condition {
        Condition::NotExists => 1,
        Condition::VersionIs(v) => v.checked_add(1)?,
        Condition::Always => return None,
    };
    codec::item_image(item, version).ok().map(|image| (version, image))
}

fn next_version(current: Option<u64>) -> u64 {
    current.unwrap_or(0).saturating_add(1)
}

pub(super) fn target(write: &Write) -> (&Key, Condition) {
    match write {
        Write::Put { item, condition } => (&item.key, *condition),
        Write::Delete { key, condition } => (key, *condition),
    }
}
