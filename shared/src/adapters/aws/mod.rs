//! Adapters on the real `aws-sdk-*` crates: [`dynamodb::DynamoStore`],
//! [`sqs::SqsQueues`] and [`sns::SnsPublisher`]; with feature `streams`, the table's
//! stream read as Lambda's poller reads it ([`streams::StreamReader`]); with feature
//! `moto`, a moto_server harness for tests ([`moto`]) and provisioning of the topology
//! on it ([`provision`]).

use aws_config::{BehaviorVersion, SdkConfig};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "moto")]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: starts moto_server for the tests"
)]
pub mod moto;
#[cfg(feature = "moto")]
pub mod provision;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "streams")]
pub mod streams;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoStore;
#[cfg(feature = "sns")]
pub use sns::SnsPublisher;
#[cfg(feature = "sqs")]
pub use sqs::SqsQueues;

/// The SDK configuration from the environment (region, credentials: on Lambda, the
/// function's role). `endpoint_url` points every client elsewhere, e.g. at moto_server
/// for `orderflow-local --backend aws --endpoint-url URL`.
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// A function's dependencies as built at cold start on Lambda.
#[cfg(all(feature = "dynamodb", feature = "sns"))]
pub struct ColdStart {
    pub deps: crate::app::Deps,
    pub config: SdkConfig,
    /// Topology queue name → URL, from the environment.
    pub queue_urls: std::collections::BTreeMap<String, String>,
}

/// Reads the environment `template.yaml` sets and the rules (either missing or invalid
/// stops the function with a message saying what to fix), and builds the store and
/// publisher clients once.
#[cfg(all(feature = "dynamodb", feature = "sns"))]
#[allow(
    clippy::panic,
    reason = "a start-up check: a bad rules file stops the function at cold start, naming the field"
)]
pub async fn cold_start() -> ColdStart {
    use std::sync::Arc;

    let env = crate::edge::lambda_env::LambdaEnv::from_env();
    let rules = crate::rules::Rules::load(None).unwrap_or_else(|e| panic!("{e}"));
    let config = sdk_config(None).await;
    let deps = crate::app::Deps {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), env.table)),
        publisher: Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&config), env.topic_arns)),
        queues: None,
        clock: Arc::new(crate::adapters::clock::SystemClock),
        ids: Arc::new(crate::adapters::clock::UuidIds),
        rules: Arc::new(rules),
    };
    ColdStart { deps, config, queue_urls: env.queue_urls }
}

#[cfg(all(feature = "dynamodb", feature = "sns"))]
impl ColdStart {
    /// For functions that send to queues directly.
    #[cfg(feature = "sqs")]
    pub fn with_queues(mut self) -> crate::app::Deps {
        let sqs = SqsQueues::new(aws_sdk_sqs::Client::new(&self.config), self.queue_urls);
        self.deps.queues = Some(std::sync::Arc::new(sqs));
        self.deps
    }
}
