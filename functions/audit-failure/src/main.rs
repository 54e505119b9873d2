//! Lambda entry point: wiring only. The decisions are in `flow.rs`.

// As in the library: no unwrap, expect or panic outside tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orderflow_shared::edge::metrics::run;
use orderflow_shared::topology;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let metrics = orderflow_shared::edge::metrics::emf(topology::AUDIT_FAILURE);
    let deps = &orderflow_shared::adapters::aws::cold_start().await.deps;
    run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| async move {
            Ok::<_, Error>(audit_failure::handle(deps, event.payload).await)
        }),
    )
    .await
}
