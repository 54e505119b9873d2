//! What a function on AWS learns from the environment `template.yaml` gives it: the
//! table name and the ARNs / URLs of the topology's topics and queues.

use std::collections::BTreeMap;

use crate::topology::{Topology, TOPOLOGY};

pub struct LambdaEnv {
    pub table: String,
    /// Topology topic name → ARN, for the topics whose variable is set.
    pub topic_arns: BTreeMap<String, String>,
    /// Topology queue name → URL, for the queues whose variable is set; the stream's
    /// failure queue too (the outbox relay sends the records it cannot read there).
    pub queue_urls: BTreeMap<String, String>,
}

impl LambdaEnv {
    /// Reads the environment once at cold start. A missing table name is a deployment
    /// error: stop with a message that says what to set.
    pub fn from_env() -> LambdaEnv {
        LambdaEnv::read(&TOPOLOGY, |name| std::env::var(name).ok())
    }

    #[allow(clippy::panic, reason = "a start-up check: the function stops at cold start, saying what to set")]
    pub fn read(topology: &Topology, var: impl Fn(&str) -> Option<String>) -> LambdaEnv {
        let table = var(topology.table_env).unwrap_or_else(|| {
            panic!(
                "{} is not set: the function needs the DynamoDB table name (template.yaml sets it)",
                topology.table_env
            )
        });
        let topic_arns = topology.topics.iter().filter_map(|t| Some((t.name.to_string(), var(t.env)?))).collect();
        let failure_queue = topology.stream.failure_queue;
        let queues = topology.queues.iter().map(|q| (q.name, q.env)).chain([(failure_queue.name, failure_queue.env)]);
        let queue_urls = queues.filter_map(|(name, env)| Some((name.to_string(), var(env)?))).collect();
        LambdaEnv { table, topic_arns, queue_urls }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> LambdaEnv {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LambdaEnv::read(&TOPOLOGY, |name| vars.get(name).cloned())
    }

    #[test]
    fn only_the_names_whose_variable_is_set_are_known() {
        let (topic, queue) = (&TOPOLOGY.topics[0], &TOPOLOGY.queues[0]);
        let env = read(&[(TOPOLOGY.table_env, "orders"), (topic.env, "arn:topic"), (queue.env, "https://queue")]);
        assert_eq!(env.table, "orders");
        assert_eq!(env.topic_arns, BTreeMap::from([(topic.name.to_string(), "arn:topic".to_string())]));
        assert_eq!(env.queue_urls, BTreeMap::from([(queue.name.to_string(), "https://queue".to_string())]));
    }

    #[test]
    fn the_stream_failure_queue_is_known_by_its_topology_name() {
        let failures = TOPOLOGY.stream.failure_queue;
        let env = read(&[(TOPOLOGY.table_env, "orders"), (failures.env, "https://failures")]);
        assert_eq!(env.queue_urls, BTreeMap::from([(failures.name.to_string(), "https://failures".to_string())]));
    }

    #[test]
    #[should_panic(expected = "TABLE_NAME is not set")]
    fn a_missing_table_name_says_what_to_set() {
        read(&[]);
    }
}
