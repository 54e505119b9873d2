//! An in-memory table with DynamoDB's write semantics: conditional puts and deletes,
//! versioned updates, all-or-nothing transactions, ordered index queries, and its
//! 400 KB item size limit counted by DynamoDB's rules ([`Item::check_size`]), so a test
//! on this store catches an item DynamoDB would refuse.
//!
//! Like a DynamoDB stream with `NEW_AND_OLD_IMAGES`, every applied write appends a
//! [`Change`] (the item before and after) to an ordered change feed, under the same
//! lock as the write, so a write and its change record commit together. The outbox
//! relay reads the feed ([`EmbeddedStore::changes_after`]) and trims what it has
//! handled ([`EmbeddedStore::trim_through`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::faults::{Faults, NoFaults};
use crate::error::StoreError;
use crate::ports::{Condition, Index, IndexQuery, Item, Key, OutboxEncoding, Page, StateStore, Write};

#[derive(Default)]
struct Table {
    items: BTreeMap<Key, Item>,
    /// Per index: (index pk, index sk, table key).
    indexes: BTreeMap<Index, BTreeSet<(String, String, Key)>>,
    /// Applied writes not yet trimmed, oldest first. Shared with their readers, so that
    /// reading a batch copies no item.
    feed: VecDeque<Arc<Change>>,
    /// The sequence number of the last change recorded.
    last_sequence: u64,
}

/// One applied write, as a stream record with both images carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Increases by one per change, from 1.
    pub sequence: u64,
    pub key: Key,
    /// The item before the write (`None`: it was created).
    pub old: Option<Item>,
    /// The item after the write (`None`: it was deleted).
    pub new: Option<Item>,
}

pub struct EmbeddedStore {
    table: Mutex<Table>,
    faults: Arc<dyn Faults>,
    cursors: super::Cursors,
}

impl Default for EmbeddedStore {
    fn default() -> Self {
        EmbeddedStore::new(Arc::new(NoFaults))
    }
}

impl EmbeddedStore {
    pub fn new(faults: Arc<dyn Faults>) -> EmbeddedStore {
        EmbeddedStore { table: Mutex::new(Table::default()), faults, cursors: super::Cursors::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every item, for inspection in tests and benchmarks.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `max` changes after sequence number `after`, oldest first.
    pub fn changes_after(&self, after: u64, max: usize) -> Vec<Change> {
        self.read_after(after, max).iter().map(|c| Change::clone(c)).collect()
    }

    /// As [`EmbeddedStore::changes_after`], sharing the changes instead of copying them.
    pub fn read_after(&self, after: u64, max: usize) -> Vec<Arc<Change>> {
        let table = self.lock();
        // Sequence numbers increase along the feed.
        let start = table.feed.partition_point(|c| c.sequence <= after);
        table.feed.range(start..).take(max).cloned().collect()
    }

    /// Forgets the changes up to and including `sequence` (the relay has handled them).
    pub fn trim_through(&self, sequence: u64) {
        let mut table = self.lock();
        while table.feed.front().is_some_and(|c| c.sequence <= sequence) {
            table.feed.pop_front();
        }
    }

    /// The sequence number of the latest change (0 before the first).
    pub fn last_sequence(&self) -> u64 {
        self.lock().last_sequence
    }
}

impl Table {
    fn check(&self, key: &Key, condition: Condition) -> Result<Option<u64>, StoreError> {
        let current = self.items.get(key).map(|i| i.version);
        let ok = match condition {
            Condition::Always => true,
            Condition::NotExists => current.is_none(),
            Condition::VersionIs(v) => current == Some(v),
        };
        if ok {
            Ok(current)
        } else {
            Err(StoreError::ConditionFailed)
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Item> {
        let old = self.items.remove(key)?;
        for (index, ik) in &old.index_keys {
            if let Some(set) = self.indexes.get_mut(index) {
                set.remove(&(ik.pk.clone(), ik.sk.clone(), key.clone()));
            }
        }
        Some(old)
    }

    /// Applies a write whose condition and size have been checked and records its
    /// change; returns the new version.
    fn apply(&mut self, write: Write, current: Option<u64>) -> u64 {
        let (key, old, new, version) = match write {
            Write::Put { mut item, .. } => {
                let old = self.remove(&item.key);
                item.version = next_version(current);
                for (index, ik) in &item.index_keys {
                    self.indexes.entry(*index).or_default().insert((ik.pk.clone(), ik.sk.clone(), item.key.clone()));
                }
                let version = item.version;
                self.items.insert(item.key.clone(), item.clone());
                (item.key.clone(), old, Some(item), version)
            }
            Write::Delete { key, .. } => {
                let old = self.remove(&key);
                (key, old, None, 0)
            }
        };
        // A delete of nothing changes nothing, and a stream records nothing for it.
        if old.is_some() || new.is_some() {
            self.last_sequence = self.last_sequence.saturating_add(1);
            self.feed.push_back(Arc::new(Change { sequence: self.last_sequence, key, old, new }));
        }
        version
    }
}

fn next_version(current: Option<u64>) -> u64 {
    current.unwrap_or(0).saturating_add(1)
}

/// Refuses a put whose item would not fit DynamoDB's item size limit.
fn check_size(write: &Write, current: Option<u64>) -> Result<(), StoreError> {
    match write {
        Write::Put { item, .. } => item.check_size(next_version(current)),
        Write::Delete { .. } => Ok(()),
    }
}

fn target(write: &Write) -> (&Key, Condition) {
    match write {
        Write::Put { item, condition } => (&item.key, *condition),
        Write::Delete { key, condition } => (key, *condition),
    }
}

#[async_trait]
impl StateStore for EmbeddedStore {
    /// Nothing bills the bytes here: the fastest deflate.
    fn outbox_encoding(&self) -> OutboxEncoding {
        OutboxEncoding::Fast
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        Ok(self.lock().items.get(key).cloned())
    }

    async fn write(&self, write: Write) -> Result<u64, StoreError> {
        self.faults.before_write(&write)?;
        write.encode_outbox(self.outbox_encoding());
        let version = {
            let mut table = self.lock();
            let (key, condition) = target(&write);
            let current = table.check(key, condition)?;
            check_size(&write, current)?;
            table.apply(write.clone(), current)
        };
        self.faults.after_write(&write)?;
        Ok(version)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        for write in &writes {
            self.faults.before_write(write)?;
            write.encode_outbox(self.outbox_encoding());
        }
        let mut table = self.lock();
        let mut seen = BTreeSet::new();
        let mut currents = Vec::with_capacity(writes.len());
        for write in &writes {
            let (key, condition) = target(write);
            if !seen.insert(key.clone()) {
                return Err(StoreError::Backend(format!("transaction writes {}/{} twice", key.pk, key.sk)));
            }
            let current = table.check(key, condition)?;
            check_size(write, current)?;
            currents.push(current);
        }
        for (write, current) in writes.iter().cloned().zip(currents) {
            table.apply(write, current);
        }
        drop(table);
        for write in &writes {
            self.faults.after_write(write)?;
        }
        Ok(())
    }

    async fn query(&self, query: IndexQuery) -> Result<Page, StoreError> {
        let table = self.lock();
        let Some(index) = table.indexes.get(&query.index) else { return Ok(Page::default()) };
        // Resume after the previous page's last item where it was when read ([`Cursors`]);
        // for a cursor not handed out here, where it is now; if it has left the index,
        // from the range's beginning (callers of due-work queries re-read anyway).
        let after = query.after.as_ref().and_then(|k| match self.cursors.position(query.index, k) {
            Some(sk) => Some((sk, k.clone())),
            None => table
                .items
                .get(k)
                .and_then(|item| item.index_keys.get(&query.index).map(|ik| (ik.sk.clone(), item.key.clone()))),
        });
        let from = query.sk_from.clone().unwrap_or_default();
        let mut items = Vec::new();
        let mut more = false;
        for (pk, sk, key) in index.range((query.pk.clone(), from, Key::new("", ""))..) {
            if *pk != query.pk || query.sk_to.as_ref().is_some_and(|to| sk > to) {
                break;
            }
            if after.as_ref().is_some_and(|(a_sk, a_key)| (sk, key) <= (a_sk, a_key)) {
                continue;
            }
            if items.len() == query.limit {
                more = true;
                break;
            }
            items.extend(table.items.get(key).map(|item| projected(item, query.index)));
        }
        let next = if more { items.last() } else { None };
        if let Some(last) = next {
            self.cursors.remember(query.index, last);
        }
        Ok(Page { next: next.map(|i: &Item| i.key.clone()), items })
    }
}

/// What a query of `index` returns of `item`: all of it, or its keys for a keys-only
/// index, as DynamoDB does.
fn projected(item: &Item, index: Index) -> Item {
    if !index.keys_only() {
        return item.clone();
    }
    let mut keys = Item::new(item.key.clone(), String::new());
    keys.version = 0;
    keys.index_keys = item.index_keys.iter().filter(|(i, _)| **i == index).map(|(i, k)| (*i, k.clone())).collect();
    keys
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
