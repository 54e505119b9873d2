//! Lambda entry point: wiring only. The decisions are in `handler.rs`.

// As in the library: no unwrap, expect or panic outside tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lambda_http::{service_fn, Error, Request};
use orderflow_shared::edge::metrics::run_http;
use orderflow_shared::topology;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let metrics = orderflow_shared::edge::metrics::emf(topology::REFUND_CALCULATOR);
    let deps = &orderflow_shared::adapters::aws::cold_start().await.deps;
    run_http(
        metrics,
        service_fn(
            move |request: Request| async move { Ok::<_, Error>(refund_calculator::handle(deps, request).await) },
        ),
    )
    .await
}
