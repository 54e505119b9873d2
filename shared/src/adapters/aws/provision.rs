//! Builds the topology on an AWS-compatible endpoint (moto_server): the table with its
//! stream, every topic, every queue with its dead-letter queue, every subscription, the
//! stream's failure queue. On AWS the SAM template does this; here it lets tests and the
//! local runtime run the aws adapters.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use crate::adapters::aws::dynamodb::{create_table, DynamoStore};
use crate::adapters::aws::sns::SnsPublisher;
use crate::adapters::aws::sqs::SqsQueues;
use crate::error::{Error, StoreError};
use crate::topology::{FailureQueue, Queue, Subscription, Topology};

/// Dead letters are kept as long as SQS allows (14 days), for a person to look at.
const DLQ_RETENTION_SECS: &str = "1209600";
const _: () = assert!(crate::topology::DEAD_LETTER_RETENTION_SECS == 1_209_600);

/// What [`provision`] created, keyed by topology name (`queue_urls` also holds each
/// queue's `<name>-dlq` and the stream's failure queue).
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    /// The table's latest stream, which the outbox relay reads.
    pub stream_arn: String,
    pub topic_arns: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
}

impl Provisioned {
    /// The three adapters on what was provisioned.
    pub fn adapters(&self, config: &SdkConfig) -> (DynamoStore, SnsPublisher, SqsQueues) {
        (
            DynamoStore::new(aws_sdk_dynamodb::Client::new(config), self.table.clone()),
            SnsPublisher::new(aws_sdk_sns::Client::new(config), self.topic_arns.clone()),
            SqsQueues::new(aws_sdk_sqs::Client::new(config), self.queue_urls.clone()),
        )
    }
}

/// Creates everything in `topology` with names prefixed by `prefix` (so tests sharing a
/// server do not collide): table `<prefix>orderflow`, topics and queues `<prefix><name>`.
/// Running it again on the same prefix changes nothing.
pub async fn provision(config: &SdkConfig, topology: &Topology, prefix: &str) -> Result<Provisioned, Error> {
    if let Some(orphan) = topology.subscriptions.iter().find(|s| topology.queue(s.queue).is_none()) {
        return Err(Error::Queue(format!("subscription of {} to unknown queue {}", orphan.topic, orphan.queue)));
    }
    let table = format!("{prefix}orderflow");
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    create_table(&dynamodb, &table).await?;
    let stream_arn = stream_arn(&dynamodb, &table).await?;
    let (sns, sqs) = (aws_sdk_sns::Client::new(config), aws_sdk_sqs::Client::new(config));
    let mut topic_arns = BTreeMap::new();
    for topic in topology.topics {
        let created = sns.create_topic().name(format!("{prefix}{}", topic.name)).send().await;
        let created = created.map_err(|e| publish_error(topic.name, &e))?;
        let arn =
            created.topic_arn().ok_or_else(|| Error::Publish(format!("{}: CreateTopic gave no ARN", topic.name)))?;
        topic_arns.insert(topic.name.to_string(), arn.to_string());
    }
    let mut queue_urls = BTreeMap::new();
    for queue in topology.queues {
        let subscriptions: Vec<_> = topology.subscriptions.iter().filter(|s| s.queue == queue.name).collect();
        let senders = subscriptions.iter().map(|s| topic_arn(&topic_arns, s)).collect::<Result<Vec<_>, _>>()?;
        let (url, arn, dlq_url) = create_queue(&sqs, prefix, queue, &senders).await?;
        for subscription in subscriptions {
            subscribe(&sns, topic_arn(&topic_arns, subscription)?, &arn, subscription).await?;
        }
        queue_urls.insert(queue.name.to_string(), url);
        queue_urls.insert(Topology::dlq_name(queue.name), dlq_url);
    }
    let failure_queue = topology.stream.failure_queue;
    queue_urls.insert(failure_queue.name.to_string(), create_failure_queue(&sqs, prefix, &failure_queue).await?);
    Ok(Provisioned { table, stream_arn, topic_arns, queue_urls })
}

/// The table's latest stream ARN. A table made before it had a stream (an older
/// provisioning under the same prefix) is refused with what to do about it.
async fn stream_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<String, Error> {
    let out = dynamodb.describe_table().table_name(table).send().await.map_err(|e| {
        Error::Store(StoreError::Backend(format!("describing table {table}: {}", DisplayErrorContext(&e))))
    })?;
    let description = out.table();
    let specification = description.and_then(|t| t.stream_specification());
    let streams_both_images = specification.is_some_and(|s| {
        s.stream_enabled() && s.stream_view_type() == Some(&aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
    });
    match description.and_then(|t| t.latest_stream_arn()) {
        Some(arn) if streams_both_images => Ok(arn.to_string()),
        _ => Err(Error::Store(StoreError::Backend(format!(
            "table {table} has no NEW_AND_OLD_IMAGES stream: delete it or provision under another prefix"
        )))),
    }
}

/// A queue no function consumes, so no redrive; its messages are kept as long as
/// dead letters are.
async fn create_failure_queue(sqs: &aws_sdk_sqs::Client, prefix: &str, queue: &FailureQueue) -> Result<String, Error> {
    let attributes = [(QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_string())];
    create_one(sqs, &format!("{prefix}{}", queue.name), attributes).await
}

fn topic_arn<'a>(topic_arns: &'a BTreeMap<String, String>, subscription: &Subscription) -> Result<&'a str, Error> {
    let arn = topic_arns.get(subscription.topic).map(String::as_str);
    arn.ok_or_else(|| {
        Error::Publish(format!("subscription of {} to unknown topic {}", subscription.queue, subscription.topic))
    })
}

/// Creates the dead-letter queue, then the queue redriving to it, allowing the `senders`
/// topics to deliver to it. Returns (url, ARN, dead-letter queue url).
async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    queue: &Queue,
    senders: &[&str],
) -> Result<(String, String, String), Error> {
    let dlq_attributes = [(QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_string())];
    let dlq_url = create_one(sqs, &format!("{prefix}{}", Topology::dlq_name(queue.name)), dlq_attributes).await?;
    let redrive =
        json!({ "deadLetterTargetArn": queue_arn(sqs, &dlq_url).await?, "maxReceiveCount": queue.max_receive_count });
    let attributes = [
        (QueueAttributeName::VisibilityTimeout, queue.visibility_timeout_secs.to_string()),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ];
    let url = create_one(sqs, &format!("{prefix}{}", queue.name), attributes).await?;
    let arn = queue_arn(sqs, &url).await?;
    if !senders.is_empty() {
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "TopicsSendMessage",
                "Effect": "Allow",
                "Principal": { "Service": "sns.amazonaws.com" },
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": { "ArnEquals": { "aws:SourceArn": senders } },
            }],
        });
        let request =
            sqs.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::Policy, policy.to_string());
        request.send().await.map_err(|e| queue_error(queue.name, &e))?;
    }
    Ok((url, arn, dlq_url))
}

async fn create_one<const N: usize>(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: [(QueueAttributeName, String); N],
) -> Result<String, Error> {
    let mut request = sqs.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute, value);
    }
    let out = request.send().await.map_err(|e| queue_error(name, &e))?;
    out.queue_url.ok_or_else(|| Error::Queue(format!("{name}: CreateQueue gave no URL")))
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, Error> {
    let request = sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn);
    let out = request.send().await.map_err(|e| queue_error(url, &e))?;
    let arn = out.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn));
    arn.cloned().ok_or_else(|| Error::Queue(format!("{url}: no QueueArn")))
}

/// Subscribes the queue. `RawMessageDelivery` is only ever set to `true` (false is the
/// default; moto also takes the string "false" for true).
async fn subscribe(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
    subscription: &Subscription,
) -> Result<(), Error> {
    let mut request = sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn);
    if subscription.raw_delivery {
        request = request.attributes("RawMessageDelivery", "true");
    }
    if let Some(policy) = subscription.filter_policy {
        request = request.attributes("FilterPolicy", policy);
    }
    request.send().await.map_err(|e| publish_error(subscription.topic, &e))?;
    Ok(())
}

fn publish_error(what: &str, e: &impl std::error::Error) -> Error {
    Error::Publish(format!("{what}: {}", DisplayErrorContext(e)))
}

fn queue_error(what: &str, e: &impl std::error::Error) -> Error {
    Error::Queue(format!("{what}: {}", DisplayErrorContext(e)))
}

#[cfg(test)]
#[cfg(feature = "moto")]
pub(crate) mod tests {
    use super::*;
    use crate::adapters::aws::moto::{unique_name, MotoServer};
    use crate::ports::{Broker, QueueSender};
    use crate::topology::Topic;

    /// One topic feeding one queue through a raw subscription that only lets
    /// `order.dispatched` through; two receives before dead-lettering.
    pub(crate) const TEST_TOPOLOGY: Topology = Topology {
        table_env: "TABLE_NAME",
        functions: &[],
        topics: &[Topic { name: "events", logical_id: "EventsTopic", env: "EVENTS_TOPIC_ARN" }],
        queues: &[Queue {
            name: "work",
            logical_id: "WorkQueue",
            dlq_logical_id: "WorkDeadLetterQueue",
            max_receive_count: 2,
            visibility_timeout_secs: 30,
            batch_size: 10,
            consumer: "worker",
            env: "WORK_QUEUE_URL",
        }],
        subscriptions: &[Subscription {
            topic: "events",
            queue: "work",
            filter_policy: Some(r#"{"type": ["order.dispatched"]}"#),
            raw_delivery: true,
        }],
        routes: &[],
        schedules: &[],
        stream: crate::topology::TOPOLOGY.stream,
    };

    #[tokio::test(flavor = "multi_thread")]
    async fn provisions_every_resource_under_the_prefix() {
        let config = MotoServer::shared().sdk_config().await;
        let prefix = unique_name("prov");
        let provisioned = provision(&config, &TEST_TOPOLOGY, &prefix).await.expect("provision");
        assert_eq!(provisioned.table, format!("{prefix}orderflow"));
        assert_eq!(provisioned.topic_arns.keys().collect::<Vec<_>>(), ["events"]);
        assert!(provisioned.topic_arns["events"].ends_with(&format!(":{prefix}events")));
        assert_eq!(provisioned.queue_urls.keys().collect::<Vec<_>>(), ["outbox-relay-failures", "work", "work-dlq"]);
        assert!(provisioned.queue_urls["work-dlq"].ends_with(&format!("/{prefix}work-dlq")));
        assert!(provisioned.stream_arn.contains(&format!(":table/{prefix}orderflow/stream/")));

        let sqs = aws_sdk_sqs::Client::new(&config);
        let out = (sqs.get_queue_attributes().queue_url(&provisioned.queue_urls["work"]))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes");
        let attributes = out.attributes().expect("attributes");
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "30");
        assert!(attributes[&QueueAttributeName::RedrivePolicy].contains(&format!("{prefix}work-dlq")));
        assert!(attributes[&QueueAttributeName::Policy].contains(&provisioned.topic_arns["events"]));

        // Provisioning again (the local runtime restarting) changes nothing.
        let again = provision(&config, &TEST_TOPOLOGY, &prefix).await.expect("provision again");
        assert_eq!(again.queue_urls, provisioned.queue_urls);
        assert_eq!(again.stream_arn, provisioned.stream_arn);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_failure_queue_keeps_messages_two_weeks_and_redrives_nowhere() {
        let config = MotoServer::shared().sdk_config().await;
        let provisioned = provision(&config, &TEST_TOPOLOGY, &unique_name("prov")).await.expect("provision");
        let failures = TEST_TOPOLOGY.stream.failure_queue.name;
        let out = (aws_sdk_sqs::Client::new(&config).get_queue_attributes())
            .queue_url(&provisioned.queue_urls[failures])
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes");
        let attributes = out.attributes().expect("attributes");
        assert_eq!(attributes[&QueueAttributeName::MessageRetentionPeriod], DLQ_RETENTION_SECS);
        assert!(!attributes.contains_key(&QueueAttributeName::RedrivePolicy));

        let queues = provisioned.adapters(&config).2;
        queues.send(failures, r#"{"reason":"test"}"#, &BTreeMap::new()).await.expect("send to the failure queue");
        let stats = queues.stats(failures).await.expect("stats");
        assert_eq!((stats.visible, stats.in_flight, stats.dead_letters), (1, 0, 0));
        let received = queues.receive(failures, 10).await.expect("receive");
        assert_eq!(received.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), [r#"{"reason":"test"}"#]);
    }
}
