//! What a function on AWS learns from the environment `template.yaml` gives it: the
//! table name and the ARNs / URLs of the topology's topics and queues.

use std::collections::BTreeMap;

use crate::topology::{Topology, TOPOLOGY};

pub struct LambdaEnv {
    pub table: String,
    /// Topology topic name → ARN, for the topics whose variable is set.
    pub topic_arns: BTreeMap<String, String>,
    /// Topology queue name → URL, for the queues whose variable is set.
    pub queue_urls: BTreeMap<String, String>,
}

impl LambdaEnv {
    /// Reads the environment once at cold start. A missing table name is a deployment
    /// error: stop with a message that says what to set.
    pub fn from_env() -> LambdaEnv {
        LambdaEnv::read(&TOPOLOGY, |name| std::env::var(name).ok())
    }

    pub fn read(topology: &Topology, var: impl Fn(&str) -> Option<String>) -> LambdaEnv {
        let table = var(topology.table_env).unwrap_or_else(|| {
            panic!(
                "{} is not set: the function needs the DynamoDB table name (template.yaml sets it)",
                topology.table_env
            )
        });
        let topic_arns = topology.topics.iter().filter_map(|t| Some((t.name.to_string(), var(t.env)?))).collect();
        let queue_urls = topology.queues.iter().filter_map(|q| Some((q.name.to_string(), var(q.env)?))).collect();
        LambdaEnv { table, topic_arns, queue_urls }
    }
}
