//! Lambda entry point: wiring only. The decisions are in `flow.rs`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let deps = &orderflow_shared::adapters::aws::cold_start().await.deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(audit_failure::handle(deps, event.payload).await)
    }))
    .await
}
