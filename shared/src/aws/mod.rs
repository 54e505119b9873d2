//! Adapters on the real `aws-sdk-*` crates: [`dynamodb::DynamoStore`],
//! [`sqs::SqsQueues`] and [`sns::SnsPublisher`]; with feature `moto`, a moto_server
//! harness for tests ([`moto`]) and provisioning of the topology on it ([`provision`]).

use aws_config::{BehaviorVersion, SdkConfig};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "moto")]
pub mod moto;
#[cfg(feature = "moto")]
pub mod provision;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;

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
