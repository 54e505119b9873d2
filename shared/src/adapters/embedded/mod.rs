//! In-process adapters with the semantics of the AWS services they stand in for: the
//! default backend of the local runtime and of most tests.
//!
//! - [`store`]: DynamoDB-like table (conditional writes, transactions, index queries).
//! - [`bus`]: SNS-like topics fanning out through filter policies into SQS-like queues
//!   (at-least-once, visibility timeout, redrive to a dead-letter queue).
//! - [`filter`]: SNS filter policy matching.
//! - [`stream`]: the store's change feed as Lambda DynamoDB stream events.
//! - [`faults`]: the seam for injecting duplicates, delays and crashes.
//! - [`fixtures`]: the `events/` fixtures for handler tests.
//! - [`emf`]: the EMF lines a function wrote, read back and checked (feature `emf`).
//! - [`world`]: a whole embedded backend with a manual clock, for tests and benchmarks.

pub mod bus;
#[cfg(test)]
pub(crate) mod bus_contract;
#[cfg(feature = "emf")]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: reads the metrics the tests assert on"
)]
pub mod emf;
pub mod faults;
pub mod filter;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test support: loads the event fixtures")]
pub mod fixtures;
pub mod store;
#[cfg(test)]
pub(crate) mod store_contract;
pub mod stream;
pub mod world;

pub use crate::adapters::clock::{ManualClock, SequentialIds, SystemClock, UuidIds};
pub use bus::{EmbeddedBus, Published};
pub use faults::{Faults, FaultyStore, NoFaults};
pub use store::{Change, EmbeddedStore};
pub use world::World;

/// A store's ordered change feed (a DynamoDB stream with both images, in process): what
/// the local runtime's outbox relay mapping reads. The in-memory store and the durable
/// one both keep one.
pub trait ChangeFeed: Send + Sync {
    /// Up to `max` changes after sequence number `after`, oldest first.
    fn read_changes(&self, after: u64, max: usize) -> Result<Vec<std::sync::Arc<Change>>, crate::error::StoreError>;
    /// Forgets the changes up to and including `through` (the relay has handled them).
    fn trim_changes(&self, through: u64) -> Result<(), crate::error::StoreError>;
}

impl ChangeFeed for EmbeddedStore {
    fn read_changes(&self, after: u64, max: usize) -> Result<Vec<std::sync::Arc<Change>>, crate::error::StoreError> {
        Ok(self.read_after(after, max))
    }

    fn trim_changes(&self, through: u64) -> Result<(), crate::error::StoreError> {
        self.trim_through(through);
        Ok(())
    }
}

/// What a bus recorded as published, by topic, for `GET /_local/topics/{topic}/messages`.
pub trait PublishedLog: Send + Sync {
    /// Everything published to `topic`, oldest first; `None` for an unknown topic.
    fn published_on(&self, topic: &str) -> Result<Option<Vec<Published>>, crate::error::Error>;
}

impl PublishedLog for EmbeddedBus {
    fn published_on(&self, topic: &str) -> Result<Option<Vec<Published>>, crate::error::Error> {
        Ok(self.published(topic))
    }
}

/// The index position of each page cursor a store handed out (`Page.next`), so that a
/// continuation starts exactly after the last item as it was read, even when that item
/// has since moved in the index (a schedule tick moves each due order it acts on to a
/// later due time). DynamoDB's LastEvaluatedKey carries the position; the port's cursor
/// is the table key, so the in-process stores remember it. Bounded: past 1024 cursors
/// the memory is cleared, and a forgotten cursor falls back to the item's position now.
#[derive(Default)]
pub struct Cursors(std::sync::Mutex<std::collections::HashMap<(crate::ports::Index, crate::ports::Key), String>>);

impl Cursors {
    const MAX: usize = 1024;

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(crate::ports::Index, crate::ports::Key), String>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers that the page ending at `item` was read with it at its index position.
    pub fn remember(&self, index: crate::ports::Index, item: &crate::ports::Item) {
        let Some(position) = item.index_keys.get(&index) else { return };
        let mut cursors = self.lock();
        if cursors.len() >= Self::MAX {
            cursors.clear();
        }
        cursors.insert((index, item.key.clone()), position.sk.clone());
    }

    /// The index sort key at which the cursor `key` was handed out, if remembered.
    pub fn position(&self, index: crate::ports::Index, key: &crate::ports::Key) -> Option<String> {
        self.lock().get(&(index, key.clone())).cloned()
    }
}
