//! Fault injection for the embedded backend. The defaults inject nothing; a soak test
//! supplies its own [`Faults`] to duplicate and delay deliveries and to crash a handler
//! between writes.

use crate::error::StoreError;
use crate::ports::Write;

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
}

/// Injects nothing.
pub struct NoFaults;

impl Faults for NoFaults {}
