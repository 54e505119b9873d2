//! Lambda entry point: wiring only. The work is in `lib.rs`.

// As in the library: no unwrap, expect or panic outside tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orderflow_shared::edge::metrics::run;
use orderflow_shared::topology;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let metrics = orderflow_shared::edge::metrics::emf(topology::OUTBOX_RELAY);
    let cold = orderflow_shared::adapters::aws::cold_start().await;
    if !cold.queue_urls.contains_key(outbox_relay::FAILURE_QUEUE) {
        tracing::warn!(
            "{} is not set: an unreadable record fails, and reaches the failure queue through the stream \
             mapping's on-failure destination after its retries, without its reason",
            outbox_relay::FAILURE_QUEUE_ENV
        );
    }
    let deps = &cold.with_queues();
    run(
        metrics,
        service_fn(move |event: LambdaEvent<Event>| async move {
            Ok::<_, Error>(outbox_relay::handle(deps, event.payload).await)
        }),
    )
    .await
}
