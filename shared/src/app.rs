//! What a handler needs from the outside world, built once at cold start.

use std::sync::Arc;

use crate::domain::policy::Rules;
use crate::error::{Error, Result};
use crate::ports::{Clock, IdGenerator, OutboundMessage, Publisher, QueueSender, StateStore, Via};

#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn StateStore>,
    pub publisher: Arc<dyn Publisher>,
    /// Only for functions that send to a queue directly.
    pub queues: Option<Arc<dyn QueueSender>>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub rules: Arc<Rules>,
}

impl Deps {
    /// Publishes a transition's messages in order; the first failure stops (the caller
    /// fails, its retry re-sends the whole outbox with the same ids).
    ///
    /// Consecutive messages to one topic go in one request where they fit
    /// ([`Publisher::batch_len`]): an order's transition often publishes several events
    /// at once.
    pub async fn publish_all(&self, messages: &[OutboundMessage]) -> Result<()> {
        let mut rest = messages;
        while let Some((message, after)) = rest.split_first() {
            match message.via {
                Via::Topic => {
                    let (batch, after) =
                        rest.split_at_checked(self.publisher.batch_len(rest).max(1)).unwrap_or((rest, &[]));
                    self.publisher.publish_batch(batch).await?;
                    rest = after;
                }
                Via::Queue => {
                    let queues = self
                        .queues
                        .as_ref()
                        .ok_or_else(|| Error::Queue(format!("no queue client to send to {}", message.topic)))?;
                    queues.send(&message.topic, &message.body, &message.attributes).await?;
                    rest = after;
                }
            }
        }
        Ok(())
    }
}
