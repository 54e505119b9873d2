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
    pub async fn publish_all(&self, messages: &[OutboundMessage]) -> Result<()> {
        for message in messages {
            match message.via {
                Via::Topic => self.publisher.publish(message).await?,
                Via::Queue => {
                    let queues = self
                        .queues
                        .as_ref()
                        .ok_or_else(|| Error::Queue(format!("no queue client to send to {}", message.topic)))?;
                    queues.send(&message.topic, &message.body, &message.attributes).await?
                }
            }
        }
        Ok(())
    }
}
