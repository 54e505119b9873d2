//! The dead letters of a deployed stack: its queue and dead-letter queue URLs and its
//! table from the stack's outputs (`<LogicalId>Url` of each queue and dead-letter
//! queue in `template.yaml`, `StateTableName`), read and moved with the same SQS and
//! DynamoDB adapters the functions use. A redrive receives each dead letter, sends a
//! copy to its queue and deletes it from the dead-letter queue.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::DisplayErrorContext;
use orderflow_shared::adapters::aws::{DynamoStore, SqsQueues};
use orderflow_shared::topology::{Topology, TOPOLOGY};

use super::{list_on, redrive_on, unknown_queue, DeadLetter, DeadLetterQueues};

/// The output naming the state table.
pub const TABLE_OUTPUT: &str = "StateTableName";

/// The output naming the URL of the queue with this logical id.
pub fn url_output(logical_id: &str) -> String {
    format!("{logical_id}Url")
}

pub struct Stack {
    name: String,
    queues: SqsQueues,
    store: DynamoStore,
    /// Topology names of the queues whose URLs the outputs give.
    found: Vec<&'static str>,
}

impl Stack {
    /// Reads the outputs of the stack `name`.
    pub async fn open(config: &SdkConfig, name: &str) -> Result<Stack, String> {
        let cloudformation = aws_sdk_cloudformation::Client::new(config);
        let described = cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| format!("stack {name}: {}", DisplayErrorContext(&e)))?;
        let outputs: BTreeMap<String, String> = described
            .stacks()
            .first()
            .ok_or_else(|| format!("stack {name} was not found"))?
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        let table = outputs.get(TABLE_OUTPUT).ok_or_else(|| format!("stack {name} has no output {TABLE_OUTPUT}"))?;
        let (mut urls, mut found) = (BTreeMap::new(), Vec::new());
        for queue in TOPOLOGY.queues {
            let urls_of = (outputs.get(&url_output(queue.logical_id)), outputs.get(&url_output(queue.dlq_logical_id)));
            if let (Some(url), Some(dlq_url)) = urls_of {
                urls.insert(queue.name.to_string(), url.clone());
                urls.insert(Topology::dlq_name(queue.name), dlq_url.clone());
                found.push(queue.name);
            }
        }
        Ok(Stack {
            name: name.to_string(),
            queues: SqsQueues::new(aws_sdk_sqs::Client::new(config), urls),
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(config), table.clone()),
            found,
        })
    }

    fn check(&self, queue: &str) -> Result<(), String> {
        match TOPOLOGY.queue(queue) {
            None => Err(unknown_queue(queue)),
            Some(q) if !self.found.contains(&q.name) => Err(format!(
                "stack {} has no outputs {} and {} for queue {queue}",
                self.name,
                url_output(q.logical_id),
                url_output(q.dlq_logical_id)
            )),
            Some(_) => Ok(()),
        }
    }
}

#[async_trait]
impl DeadLetterQueues for Stack {
    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, String> {
        self.check(queue)?;
        list_on(&self.queues, &self.store, queue).await
    }

    async fn redrive(&self, queue: &str) -> Result<Vec<String>, String> {
        self.check(queue)?;
        redrive_on(&self.queues, queue).await
    }
}
