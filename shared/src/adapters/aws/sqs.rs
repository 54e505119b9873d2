//! [`QueueSender`] and [`Broker`] on SQS. Queue URLs are given by topology name at
//! construction, dead-letter queues included under [`Topology::dlq_name`].

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;

use crate::error::Error;
use crate::ports::{oversized_message, Broker, QueueSender, QueueStats, ReceivedMessage};
use crate::topology::Topology;

/// SQS hands out at most ten messages per receive.
const MAX_BATCH: usize = 10;
/// How long a peek at a dead-letter queue hides the messages it has seen (they are made
/// visible again right after; this only bounds a peek that failed halfway).
const PEEK_HIDE_SECS: i32 = 30;
/// Receive rounds of one peek: up to 1000 dead letters.
const MAX_PEEK_ROUNDS: usize = 100;

pub struct SqsQueues {
    client: Client,
    /// Topology queue name (and `<name>-dlq`) → queue URL.
    queue_urls: BTreeMap<String, String>,
}

impl SqsQueues {
    pub fn new(client: Client, queue_urls: BTreeMap<String, String>) -> Self {
        SqsQueues { client, queue_urls }
    }

    fn url(&self, queue: &str) -> Result<&str, Error> {
        self.queue_urls.get(queue).map(String::as_str).ok_or_else(|| Error::Queue(format!("unknown queue {queue}")))
    }

    /// One ReceiveMessage without long polling, with every message attribute and the
    /// system attributes the port reports (receive count) or sorts by (sent time).
    async fn receive_raw(&self, queue: &str, max: usize, hide_secs: Option<i32>) -> Result<Vec<Message>, Error> {
        let count = i32::try_from(max.min(MAX_BATCH)).unwrap_or(1);
        let out = (self.client.receive_message().queue_url(self.url(queue)?).max_number_of_messages(count))
            .wait_time_seconds(0)
            .set_visibility_timeout(hide_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| queue_error(queue, &e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// (visible, in flight) of one queue.
    async fn counts(&self, queue: &str) -> Result<(usize, usize), Error> {
        let out = (self.client.get_queue_attributes().queue_url(self.url(queue)?))
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| queue_error(queue, &e))?;
        let count = |name: QueueAttributeName| {
            let value = out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok());
            value.ok_or_else(|| Error::Queue(format!("{queue}: no valid {name} in GetQueueAttributes")))
        };
        Ok((
            count(QueueAttributeName::ApproximateNumberOfMessages)?,
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
        ))
    }
}

#[async_trait]
impl QueueSender for SqsQueues {
    /// A message over the SQS size limit is refused before the request, with the
    /// embedded bus's reason.
    async fn send(&self, queue: &str, body: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error> {
        if let Some(reason) = oversized_message(queue, body, attributes) {
            return Err(Error::Queue(reason));
        }
        let mut request = self.client.send_message().queue_url(self.url(queue)?).message_body(body);
        for (name, value) in attributes {
            let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build();
            request = request.message_attributes(name, attribute.map_err(|e| queue_error(queue, &e))?);
        }
        request.send().await.map_err(|e| queue_error(queue, &e))?;
        Ok(())
    }
}

#[async_trait]
impl Broker for SqsQueues {
    /// At most ten messages per call (SQS's batch limit), whatever `max` asks.
    async fn receive(&self, queue: &str, max: usize) -> Result<Vec<ReceivedMessage>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let messages = self.receive_raw(queue, max, None).await?;
        messages.iter().map(|m| received(queue, m)).collect()
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), Error> {
        let request = self.client.delete_message().queue_url(self.url(queue)?).receipt_handle(receipt);
        request.send().await.map_err(|e| queue_error(queue, &e))?;
        Ok(())
    }

    /// `DeleteMessageBatch`, ten receipts per request, as Lambda's event source mapping
    /// deletes a batch it was handed. A receipt SQS refuses fails the call, naming it
    /// (its message comes back after its visibility timeout, and its consumer drops
    /// the repeat).
    async fn delete_batch(&self, queue: &str, receipts: &[&str]) -> Result<(), Error> {
        for chunk in receipts.chunks(10) {
            let mut request = self.client.delete_message_batch().queue_url(self.url(queue)?);
            for (i, receipt) in chunk.iter().enumerate() {
                let entry =
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(*receipt).build();
                request = request.entries(entry.map_err(|e| queue_error(queue, &e))?);
            }
            let response = request.send().await.map_err(|e| queue_error(queue, &e))?;
            if let Some(failed) = response.failed().first() {
                let receipt = failed.id().parse::<usize>().ok().and_then(|i| chunk.get(i)).copied().unwrap_or_default();
                let why = failed.message().unwrap_or(failed.code());
                return Err(Error::Queue(format!(
                    "{queue}: deleting {} of {} messages failed; the first, receipt {receipt}: {why}",
                    response.failed().len(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    async fn release(&self, queue: &str, receipt: &str, seconds: u32) -> Result<(), Error> {
        let request = self.client.change_message_visibility().queue_url(self.url(queue)?).receipt_handle(receipt);
        let request = request.visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX));
        request.send().await.map_err(|e| queue_error(queue, &e))?;
        Ok(())
    }

    /// `dead_letters` counts the dead-letter queue's visible and in-flight messages, so a
    /// concurrent peek ([`Broker::dead_letters`]) does not make them look gone.
    async fn stats(&self, queue: &str) -> Result<QueueStats, Error> {
        let (visible, in_flight) = self.counts(queue).await?;
        let dlq = Topology::dlq_name(queue);
        let dead_letters = match self.queue_urls.contains_key(&dlq) {
            true => self.counts(&dlq).await.map(|(v, f)| v + f)?,
            false => 0,
        };
        Ok(QueueStats { name: queue.to_string(), visible, in_flight, dead_letters })
    }

    /// Receives from the dead-letter queue, sends each message to `queue` with its body
    /// and attributes, then deletes it from the dead-letter queue (a crash between the
    /// two leaves a copy in both: at least once, as the handlers expect). SQS gives the
    /// copy a new message id; the ids returned are the dead letters'.
    async fn redrive(&self, queue: &str, max: usize) -> Result<Vec<String>, Error> {
        let dlq = Topology::dlq_name(queue);
        let mut moved = Vec::new();
        while moved.len() < max {
            let batch = self.receive_raw(&dlq, max - moved.len(), Some(PEEK_HIDE_SECS)).await?;
            if batch.is_empty() {
                break;
            }
            for message in &batch {
                let m = received(&dlq, message)?;
                QueueSender::send(self, queue, &m.body, &m.attributes).await?;
                self.delete(&dlq, &m.receipt).await?;
                moved.push(m.message_id);
            }
        }
        Ok(moved)
    }

    /// Peeks at the dead-letter queue without consuming it: receives until a round brings
    /// nothing new, hiding what it got so each round sees further messages (with
    /// visibility 0 a server may return the same ten forever; moto does), then makes
    /// everything visible again. Their receive counts grow; nothing else changes.
    async fn dead_letters(&self, queue: &str) -> Result<Vec<ReceivedMessage>, Error> {
        let dlq = Topology::dlq_name(queue);
        let (mut seen, mut ids) = (Vec::new(), HashSet::new());
        for _ in 0..MAX_PEEK_ROUNDS {
            let batch = self.receive_raw(&dlq, MAX_BATCH, Some(PEEK_HIDE_SECS)).await?;
            let before = seen.len();
            seen.extend(batch.into_iter().filter(|m| ids.insert(m.message_id().unwrap_or_default().to_string())));
            if seen.len() == before {
                break;
            }
        }
        let mut first_error = None;
        for receipt in seen.iter().filter_map(Message::receipt_handle) {
            if let Err(e) = self.release(&dlq, receipt, 0).await {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        seen.sort_by_key(|m| {
            system_attribute(m, MessageSystemAttributeName::SentTimestamp).and_then(|t| t.parse::<u64>().ok())
        });
        seen.iter().map(|m| received(&dlq, m)).collect()
    }
}

fn queue_error(queue: &str, e: &impl std::error::Error) -> Error {
    Error::Queue(format!("{queue}: {}", DisplayErrorContext(e)))
}

fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message.attributes().and_then(|a| a.get(&name)).map(String::as_str)
}

/// The port's view of an SQS message; string (and number) message attributes only.
fn received(queue: &str, message: &Message) -> Result<ReceivedMessage, Error> {
    let missing = |what: &str| Error::Queue(format!("{queue}: received a message without {what}"));
    let count = system_attribute(message, MessageSystemAttributeName::ApproximateReceiveCount);
    let attributes = message.message_attributes().into_iter().flatten();
    Ok(ReceivedMessage {
        message_id: message.message_id().ok_or_else(|| missing("a message id"))?.to_string(),
        receipt: message.receipt_handle().ok_or_else(|| missing("a receipt handle"))?.to_string(),
        body: message.body().ok_or_else(|| missing("a body"))?.to_string(),
        attributes: attributes.filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_string()))).collect(),
        receive_count: count.and_then(|c| c.parse().ok()).ok_or_else(|| missing("a valid ApproximateReceiveCount"))?,
    })
}

#[cfg(test)]
#[cfg(feature = "moto")]
mod tests {
    use super::*;
    use crate::adapters::aws::moto::{unique_name, MotoServer};
    use crate::adapters::aws::provision::{provision, tests::TEST_TOPOLOGY};

    async fn queues() -> SqsQueues {
        let config = MotoServer::shared().sdk_config().await;
        let provisioned = provision(&config, &TEST_TOPOLOGY, &unique_name("sqs")).await.expect("provision");
        provisioned.adapters(&config).2
    }

    fn attrs(kind: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("type".to_string(), kind.to_string())])
    }

    async fn stats(queues: &SqsQueues) -> (usize, usize, usize) {
        let s = queues.stats("work").await.expect("stats");
        assert_eq!(s.name, "work");
        (s.visible, s.in_flight, s.dead_letters)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn send_receive_release_and_delete() {
        let queues = queues().await;
        queues.send("work", "hello", &attrs("greeting")).await.expect("send");
        assert_eq!(stats(&queues).await, (1, 0, 0));

        let first = queues.receive("work", 5).await.expect("receive");
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].body.as_str(), first[0].receive_count), ("hello", 1));
        assert_eq!(first[0].attributes, attrs("greeting"));
        assert_eq!(stats(&queues).await, (0, 1, 0));
        assert!(queues.receive("work", 5).await.expect("hidden").is_empty());

        queues.release("work", &first[0].receipt, 0).await.expect("release");
        let second = queues.receive("work", 5).await.expect("receive again");
        assert_eq!((second.len(), second[0].receive_count), (1, 2));
        assert_eq!(second[0].message_id, first[0].message_id);

        queues.delete("work", &second[0].receipt).await.expect("delete");
        assert_eq!(stats(&queues).await, (0, 0, 0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_batch_of_more_than_ten_is_deleted_and_a_refused_receipt_is_named() {
        let queues = queues().await;
        for i in 0..12 {
            queues.send("work", &format!("m-{i}"), &attrs("n")).await.expect("send");
        }
        let mut receipts = Vec::new();
        while receipts.len() < 12 {
            let batch = queues.receive("work", 10).await.expect("receive");
            assert!(!batch.is_empty(), "all twelve come back");
            receipts.extend(batch.into_iter().map(|m| m.receipt));
        }
        let all: Vec<&str> = receipts.iter().map(String::as_str).collect();
        queues.delete_batch("work", &all).await.expect("deleted in two requests");
        assert_eq!(stats(&queues).await, (0, 0, 0));

        let error = queues.delete_batch("work", &["not-a-receipt"]).await.expect_err("refused");
        assert!(matches!(&error, Error::Queue(m) if m.contains("receipt not-a-receipt")), "{error}");
        queues.delete_batch("work", &[]).await.expect("nothing to delete");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_message_over_the_size_limit_is_refused_as_the_embedded_bus_refuses_it() {
        let queues = queues().await;
        // `type` + `String` + `big` count too.
        let body = "x".repeat(crate::ports::MAX_MESSAGE_BYTES - (4 + 6 + 3));
        queues.send("work", &body, &attrs("big")).await.expect("the largest message");
        let error = queues.send("work", &format!("{body}x"), &attrs("big")).await.expect_err("one byte over");
        assert!(matches!(&error, Error::Queue(m) if m.starts_with("work: the message is 262145 bytes")), "{error}");
        assert_eq!(stats(&queues).await, (1, 0, 0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn redrive_to_the_dead_letter_queue_and_peek_at_it() {
        let queues = queues().await;
        for body in ["poison-1", "poison-2"] {
            queues.send("work", body, &attrs("bad")).await.expect("send");
        }
        // max_receive_count is 2: two failed receives, then the third moves them.
        for _ in 0..2 {
            for message in queues.receive("work", 10).await.expect("receive") {
                queues.release("work", &message.receipt, 0).await.expect("release");
            }
        }
        assert!(queues.receive("work", 10).await.expect("redriving receive").is_empty());
        assert_eq!(stats(&queues).await, (0, 0, 2));

        for _ in 0..2 {
            let dead = queues.dead_letters("work").await.expect("dead letters");
            let bodies: Vec<_> = dead.iter().map(|m| m.body.as_str()).collect();
            assert_eq!(bodies, ["poison-1", "poison-2"], "oldest first, still there");
            assert_eq!(dead[0].attributes, attrs("bad"));
        }
        assert_eq!(stats(&queues).await, (0, 0, 2));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn peeking_sees_more_than_one_batch() {
        let queues = queues().await;
        let dlq = Topology::dlq_name("work");
        for n in 0..25 {
            queues.send(&dlq, &format!("dead-{n:02}"), &BTreeMap::new()).await.expect("send");
        }
        let dead = queues.dead_letters("work").await.expect("dead letters");
        assert_eq!(dead.len(), 25);
        assert_eq!(queues.stats("work").await.expect("stats").dead_letters, 25);
        assert_eq!(queues.receive(&dlq, 10).await.expect("visible again").len(), 10);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unknown_queues_are_queue_errors() {
        let queues = queues().await;
        let error = queues.send("nope", "x", &BTreeMap::new()).await.expect_err("unknown");
        assert!(matches!(&error, Error::Queue(m) if m == "unknown queue nope"), "{error}");
    }
}
