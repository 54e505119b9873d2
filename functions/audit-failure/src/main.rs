//! Lambda entry point: wiring only. The decisions are in `flow.rs`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use orderflow_shared::app::Deps;
use orderflow_shared::aws::{sdk_config, DynamoStore, SnsPublisher, SqsQueues};
use orderflow_shared::clock::{SystemClock, UuidIds};
use orderflow_shared::lambda_env::LambdaEnv;
use orderflow_shared::rules::Rules;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::telemetry::init();
    let env = LambdaEnv::from_env();
    let rules = Rules::load(None).unwrap_or_else(|e| panic!("{e}"));
    let config = sdk_config(None).await;
    let deps = Deps {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), env.table)),
        publisher: Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&config), env.topic_arns)),
        queues: Some(Arc::new(SqsQueues::new(aws_sdk_sqs::Client::new(&config), env.queue_urls))),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidIds),
        rules: Arc::new(rules),
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(audit_failure::handle(deps, event.payload).await)
    }))
    .await
}
