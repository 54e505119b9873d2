//! Why a queue consumer gave up on a record: one item per dead letter, written once
//! (and again on every later give-up of the same message) by [`record`], read back by
//! whoever lists the dead-letter queue. It expires with the dead-letter queue's
//! retention ([`crate::topology::DEAD_LETTER_RETENTION_SECS`]), through the table's TTL.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ports::{Condition, Item, Key, StateStore, Write};
use crate::store::{decode, encode};
use crate::topology::DEAD_LETTER_RETENTION_SECS;

/// The record of one give-up. `error` is the consumer's error as its `Display` shows
/// it: bounded ([`crate::error::MAX_MESSAGE_CHARS`] for input errors, [`MAX_ERROR_CHARS`]
/// for any), naming the field, never a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterReason {
    pub message_id: String,
    /// The topology name of the queue the record came from.
    pub queue: String,
    pub error: String,
    /// `false`: the record was refused as permanently bad (bad input, an unknown entity).
    pub retryable: bool,
    /// The receive on which the consumer gave up.
    pub receive_count: u32,
    pub failed_at: DateTime<Utc>,
}

/// Longest error text kept.
pub const MAX_ERROR_CHARS: usize = 500;

fn reason_key(queue: &str, message_id: &str) -> Key {
    Key::new(format!("DEADLETTER#{queue}#{message_id}"), "REASON")
}

impl DeadLetterReason {
    /// The reason for `error`, with the error text cut to [`MAX_ERROR_CHARS`].
    pub fn new(queue: &str, message_id: &str, error: &Error, receive_count: u32, at: DateTime<Utc>) -> Self {
        let mut text = error.to_string();
        if let Some((cut, _)) = text.char_indices().nth(MAX_ERROR_CHARS) {
            text.truncate(cut);
            text.push('…');
        }
        DeadLetterReason {
            message_id: message_id.to_string(),
            queue: queue.to_string(),
            error: text,
            retryable: error.is_retryable(),
            receive_count,
            failed_at: at,
        }
    }
}

/// Stores `reason`, replacing an earlier one of the same message, to expire with the
/// dead letter itself.
pub async fn record(store: &dyn StateStore, reason: &DeadLetterReason) -> Result<()> {
    let mut item = Item::new(reason_key(&reason.queue, &reason.message_id), encode(reason));
    item.expires_at = Some((reason.failed_at + Duration::seconds(DEAD_LETTER_RETENTION_SECS)).timestamp());
    store.write(Write::Put { item, condition: Condition::Always }).await?;
    Ok(())
}

/// The reason recorded for the message `message_id` of `queue`, if any.
pub async fn reason(store: &dyn StateStore, queue: &str, message_id: &str) -> Result<Option<DeadLetterReason>> {
    match store.get(&reason_key(queue, message_id)).await? {
        Some(item) => Ok(Some(decode(&item)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
#[cfg(feature = "embedded")]
mod tests {
    use super::*;
    use crate::adapters::embedded::{EmbeddedStore, NoFaults};
    use chrono::TimeZone;

    #[tokio::test]
    async fn a_reason_is_kept_bounded_and_expires_with_the_dead_letter() {
        let store = EmbeddedStore::new(std::sync::Arc::new(NoFaults));
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let error = Error::Queue("x".repeat(2000));
        let reason = DeadLetterReason::new("audit-results-queue", "m-1", &error, 5, at);
        assert_eq!(reason.error.chars().count(), MAX_ERROR_CHARS + 1);
        record(&store, &reason).await.unwrap();
        assert_eq!(super::reason(&store, "audit-results-queue", "m-1").await.unwrap(), Some(reason));
        assert_eq!(super::reason(&store, "notifications-queue", "m-1").await.unwrap(), None);
        let item = store.get(&reason_key("audit-results-queue", "m-1")).await.unwrap().unwrap();
        assert_eq!(item.expires_at, Some(at.timestamp() + DEAD_LETTER_RETENTION_SECS));
    }
}
