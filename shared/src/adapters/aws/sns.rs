//! [`Publisher`] on SNS: topology topic names resolve to ARNs given at construction
//! (on Lambda, from the topics' environment variables; under moto, from provisioning).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use crate::error::Error;
use crate::ports::{oversized_message, OutboundMessage, Publisher};

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
}

#[cfg(all(test, feature = "moto"))]
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
