//! Lambda entry point: wiring only. The work is in `render.rs`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let deps = &orderflow_shared::adapters::aws::cold_start().await.deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(notifier::handle(deps, event.payload).await)
    }))
    .await
}
