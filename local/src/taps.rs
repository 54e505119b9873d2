//! SNS keeps no history, so on the aws backend each topic gets a tap: a queue subscribed
//! with raw delivery and no filter. Reading a topic's messages drains its tap into a log.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, TimeZone, Utc};
use orderflow_shared::adapters::embedded::Published;
use serde_json::json;
use tokio::sync::Mutex;

pub struct Taps {
    sqs: aws_sdk_sqs::Client,
    /// Topic name → (tap queue URL, what was drained so far).
    logs: BTreeMap<String, (String, Mutex<Vec<Published>>)>,
    /// How many of each topic's latest messages the log keeps; `None`: all of them.
    keep: Option<usize>,
}

impl Taps {
    pub async fn create(
        config: &SdkConfig,
        topic_arns: &BTreeMap<String, String>,
        prefix: &str,
        keep: Option<usize>,
    ) -> Result<Taps, String> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let sns = aws_sdk_sns::Client::new(config);
        let mut logs = BTreeMap::new();
        for (topic, arn) in topic_arns {
            let name = format!("{prefix}tap-{topic}");
            let fail = |e: String| format!("cannot create the tap queue {name}: {e}");
            let url = sqs.create_queue().queue_name(&name).send().await.map_err(|e| fail(e.to_string()))?;
            let url = url.queue_url().ok_or_else(|| fail("no queue URL".into()))?.to_string();
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            let queue_arn =
                attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
            sns.subscribe()
                .topic_arn(arn)
                .protocol("sqs")
                .endpoint(queue_arn)
                .attributes("RawMessageDelivery", "true")
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            logs.insert(topic.clone(), (url, Mutex::new(Vec::new())));
        }
        Ok(Taps { sqs, logs, keep })
    }

    /// Everything published to `topic` so far (the latest `keep`, if set), oldest first.
    pub async fn published(&self, topic: &str) -> Result<Vec<Published>, String> {
        let Some((url, log)) = self.logs.get(topic) else { return Ok(Vec::new()) };
        let mut log = log.lock().await;
        loop {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|e| format!("reading the tap of {topic}: {e}"))?;
            let messages = batch.messages();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                log.push(record(m));
                if let Some(receipt) = m.receipt_handle() {
                    let _ = self.sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await;
                }
            }
        }
        log.sort_by_key(|p| p.published_at);
        if let Some(keep) = self.keep {
            let older = log.len().saturating_sub(keep);
            log.drain(..older);
        }
        Ok(log.clone())
    }
}

fn record(m: &aws_sdk_sqs::types::Message) -> Published {
    let body = m.body().unwrap_or_default();
    let attributes = m
        .message_attributes()
        .map(|a| a.iter().filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_string()))).collect())
        .unwrap_or_default();
    let sent = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    Published {
        message_id: m.message_id().unwrap_or_default().to_string(),
        message: serde_json::from_str(body).unwrap_or_else(|_| json!(body)),
        attributes,
        published_at: sent.unwrap_or(DateTime::UNIX_EPOCH),
    }
}
