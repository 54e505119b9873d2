//! Lambda entry point of `POST /fulfilment/status`: wiring only. See `status_api.rs`.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let deps = &orderflow_shared::adapters::aws::cold_start().await.with_queues();
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(fulfilment_dispatcher::status_api::handle(deps, request).await)
    }))
    .await
}
