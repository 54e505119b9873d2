//! Lambda entry point: wiring only. The decisions are in `handler.rs`.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let deps = &orderflow_shared::adapters::aws::cold_start().await.deps;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(risk_check::handle(deps, request).await) }))
        .await
}
