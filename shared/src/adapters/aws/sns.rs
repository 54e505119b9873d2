//! [`Publisher`] on SNS: topology topic names resolve to ARNs given at construction
//! (on Lambda, from the topics' environment variables; under moto, from provisioning).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sns::Client;

use crate::error::Error;
use crate::ports::{oversized_message, OutboundMessage, Publisher, MAX_BATCH_MESSAGES};

pub struct SnsPublisher {
    client: Client,
    /// Topology topic name → topic ARN.
    topic_arns: BTreeMap<String, String>,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arns: BTreeMap<String, String>) -> Self {
        SnsPublisher { client, topic_arns }
    }
}

#[async_trait]
impl Publisher for SnsPublisher {
    /// Publishes the body with every attribute as a `String` message attribute, which is
    /// what subscription filter policies match on. A message over the SNS size limit is
    /// refused before the request, with the embedded bus's reason.
    async fn publish(&self, message: &OutboundMessage) -> Result<(), Error> {
        let topic = &message.topic;
        if let Some(reason) = oversized_message(topic, &message.body, &message.attributes) {
            return Err(Error::Publish(reason));
        }
        let arn = self.topic_arns.get(topic).ok_or_else(|| Error::Publish(format!("unknown topic {topic}")))?;
        let mut request = self.client.publish().topic_arn(arn).message(&message.body);
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build();
            let attribute = attribute.map_err(|e| Error::Publish(format!("{topic}: {}", DisplayErrorContext(&e))))?;
            request = request.message_attributes(name, attribute);
        }
        request.send().await.map_err(|e| Error::Publish(format!("{topic}: {}", DisplayErrorContext(&e))))?;
        Ok(())
    }

    /// One `PublishBatch` request (a single message is a `Publish`); every entry is
    /// checked against the size limit first, and any entry SNS reports failed fails the
    /// call, naming the first failure.
    async fn publish_batch(&self, messages: &[OutboundMessage]) -> Result<(), Error> {
        let Some((first, rest)) = messages.split_first() else { return Ok(()) };
        if rest.is_empty() {
            return self.publish(first).await;
        }
        let topic = &first.topic;
        if let Some(other) = rest.iter().find(|m| m.topic != *topic) {
            return Err(Error::Publish(format!("one batch for two topics, {topic} and {}", other.topic)));
        }
        if messages.len() > MAX_BATCH_MESSAGES {
            return Err(Error::Publish(format!(
                "{topic}: {} messages in one batch, over {MAX_BATCH_MESSAGES}",
                messages.len()
            )));
        }
        for message in messages {
            if let Some(reason) = oversized_message(topic, &message.body, &message.attributes) {
                return Err(Error::Publish(reason));
            }
        }
        let arn = self.topic_arns.get(topic).ok_or_else(|| Error::Publish(format!("unknown topic {topic}")))?;
        let failed = |e: &dyn std::fmt::Display| Error::Publish(format!("{topic}: {e}"));
        let mut request = self.client.publish_batch().topic_arn(arn);
        for (i, message) in messages.iter().enumerate() {
            // Batch entry ids only need to be unique within the request.
            let mut entry = PublishBatchRequestEntry::builder().id(format!("m{i}")).message(&message.body);
            for (name, value) in &message.attributes {
                let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build();
                entry = entry.message_attributes(name, attribute.map_err(|e| failed(&DisplayErrorContext(&e)))?);
            }
            request =
                request.publish_batch_request_entries(entry.build().map_err(|e| failed(&DisplayErrorContext(&e)))?);
        }
        let output = request.send().await.map_err(|e| failed(&DisplayErrorContext(&e)))?;
        if let Some(entry) = output.failed().first() {
            let which = entry.id().strip_prefix('m').and_then(|i| i.parse::<usize>().ok());
            let id = which.and_then(|i| messages.get(i)).map_or("?", |m| m.id.as_str());
            return Err(failed(&format!(
                "{} of {} messages not published; message {id}: {} {}",
                output.failed().len(),
                messages.len(),
                entry.code(),
                entry.message().unwrap_or_default()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
#[cfg(feature = "moto")]
mod tests {
    use super::*;
    use crate::adapters::aws::moto::{unique_name, MotoServer};
    use crate::adapters::aws::provision::{provision, tests::TEST_TOPOLOGY};
    use crate::ports::Broker;

    fn message(kind: &str, body: &str) -> OutboundMessage {
        let attributes =
            BTreeMap::from([("type".to_string(), kind.to_string()), ("team".to_string(), "ops".to_string())]);
        OutboundMessage {
            id: body.into(),
            topic: "events".into(),
            body: body.into(),
            attributes,
            via: Default::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_messages_matching_the_filter_reach_the_raw_subscriber() {
        let config = MotoServer::shared().sdk_config().await;
        let provisioned = provision(&config, &TEST_TOPOLOGY, &unique_name("sns")).await.expect("provision");
        let (_, publisher, queues) = provisioned.adapters(&config);
        publisher.publish(&message("order.dispatched", r#"{"n":1}"#)).await.expect("publish matching");
        publisher.publish(&message("order.rejected", r#"{"n":2}"#)).await.expect("publish filtered out");
        publisher.publish(&message("order.dispatched", r#"{"n":3}"#)).await.expect("publish matching");

        let mut received = queues.receive("work", 10).await.expect("receive");
        received.sort_by(|a, b| a.body.cmp(&b.body));
        let bodies: Vec<_> = received.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":3}"#], "raw bodies, filtered");
        for m in &received {
            assert_eq!(m.attributes.get("type").map(String::as_str), Some("order.dispatched"));
            assert_eq!(m.attributes.get("team").map(String::as_str), Some("ops"));
        }
        assert!(queues.receive("work", 10).await.expect("receive again").is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_batch_reaches_the_subscribers_as_its_messages_would_one_by_one() {
        let config = MotoServer::shared().sdk_config().await;
        let provisioned = provision(&config, &TEST_TOPOLOGY, &unique_name("sns")).await.expect("provision");
        let (_, publisher, queues) = provisioned.adapters(&config);
        let batch = [
            message("order.dispatched", r#"{"n":1}"#),
            message("order.rejected", r#"{"n":2}"#),
            message("order.dispatched", r#"{"n":3}"#),
        ];
        publisher.publish_batch(&batch).await.expect("publish the batch");

        let mut received = queues.receive("work", 10).await.expect("receive");
        received.sort_by(|a, b| a.body.cmp(&b.body));
        let bodies: Vec<_> = received.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":3}"#], "raw bodies, filtered by their attributes");
        assert!(received.iter().all(|m| m.attributes.get("team").map(String::as_str) == Some("ops")));

        let mut over = batch.to_vec();
        over[1].body = "x".repeat(crate::ports::MAX_MESSAGE_BYTES);
        let error = publisher.publish_batch(&over).await.expect_err("an entry over the size limit");
        assert!(matches!(&error, Error::Publish(m) if m.contains("over the 262144-byte")), "{error}");
        assert!(queues.receive("work", 10).await.expect("receive").is_empty(), "nothing of a refused batch");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_message_over_the_size_limit_is_refused_as_the_embedded_bus_refuses_it() {
        let config = MotoServer::shared().sdk_config().await;
        let provisioned = provision(&config, &TEST_TOPOLOGY, &unique_name("sns")).await.expect("provision");
        let (_, publisher, queues) = provisioned.adapters(&config);
        // The attributes count: `type` + `String` + `order.dispatched`, `team` + `String` + `ops`.
        let attributes = 4 + 6 + 16 + 4 + 6 + 3;
        let fits = message("order.dispatched", &"x".repeat(crate::ports::MAX_MESSAGE_BYTES - attributes));
        publisher.publish(&fits).await.expect("the largest message");
        let over = message("order.dispatched", &format!("{}x", fits.body));
        let error = publisher.publish(&over).await.expect_err("one byte over");
        assert!(matches!(&error, Error::Publish(m) if m.starts_with("events: the message is 262145 bytes")), "{error}");
        assert_eq!(queues.receive("work", 10).await.expect("receive").len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unknown_topic_is_a_publish_error() {
        let config = MotoServer::shared().sdk_config().await;
        let publisher = SnsPublisher::new(Client::new(&config), BTreeMap::new());
        let error = publisher.publish(&message("x", "{}")).await.expect_err("unknown topic");
        assert!(matches!(&error, Error::Publish(m) if m == "unknown topic events"), "{error}");
    }
}
