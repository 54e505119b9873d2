//! Fault injection for the embedded backend. The defaults inject nothing; a soak test
//! supplies its own [`Faults`] to duplicate and delay deliveries, to crash a handler
//! around its writes and publishes, and to fail records of a batch.

use crate::error::{Error, StoreError};
use crate::ports::{IndexQuery, Item, Key, OutboxEncoding, Page, StateStore, Write};

pub trait Faults: Send + Sync {
    /// Extra copies of a message to enqueue on `queue`, as SQS may deliver one message
    /// more than once.
    fn extra_copies(&self, _queue: &str) -> u32 {
        0
    }

    /// Seconds before a newly enqueued message becomes visible.
    fn delivery_delay_secs(&self, _queue: &str) -> u32 {
        0
    }

    /// Runs before every store write; an error fails the write as a crash at that point
    /// would (nothing of it is applied).
    fn before_write(&self, _write: &Write) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs after every store write has been applied; an error fails the call as a
    /// crash right after the commit would: the write and its change record stand, the
    /// writer never learns it and goes no further.
    fn after_write(&self, _write: &Write) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs before a message is published to the topic, or sent to the queue,
    /// `destination`; an error fails the call as a crash before it would: nothing is
    /// recorded or queued.
    fn before_publish(&self, _destination: &str) -> Result<(), Error> {
        Ok(())
    }

    /// Runs once a message is recorded and queued; an error fails the call as a crash
    /// right after it would: the message stands, the caller never learns it.
    fn after_publish(&self, _destination: &str) -> Result<(), Error> {
        Ok(())
    }

    /// Whether the event source mapping reports the record `message_id` of a batch from
    /// `queue` as failed without handing it to the consumer, as an invocation that
    /// crashed before reaching it would.
    fn fail_record(&self, _queue: &str, _message_id: &str) -> bool {
        false
    }
}

/// Injects nothing.
pub struct NoFaults;

impl Faults for NoFaults {}

/// Any state store with a [`Faults`]' write crashes injected around its writes, so the
/// same crash tests run on the aws backend as on the embedded one (whose store runs
/// the hooks itself).
pub struct FaultyStore {
    inner: std::sync::Arc<dyn StateStore>,
    faults: std::sync::Arc<dyn Faults>,
}

impl FaultyStore {
    pub fn new(inner: std::sync::Arc<dyn StateStore>, faults: std::sync::Arc<dyn Faults>) -> FaultyStore {
        FaultyStore { inner, faults }
    }
}

#[async_trait::async_trait]
impl StateStore for FaultyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    fn outbox_encoding(&self) -> OutboxEncoding {
        self.inner.outbox_encoding()
    }

    async fn write(&self, write: Write) -> Result<u64, StoreError> {
        self.faults.before_write(&write)?;
        let version = self.inner.write(write.clone()).await?;
        self.faults.after_write(&write)?;
        Ok(version)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        for write in &writes {
            self.faults.before_write(write)?;
        }
        self.inner.transact(writes.clone()).await?;
        for write in &writes {
            self.faults.after_write(write)?;
        }
        Ok(())
    }

    async fn query(&self, query: IndexQuery) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
}
