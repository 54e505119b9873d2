//! Lambda entry point: wiring only. The work is in `handler.rs`.

// As in the library: no unwrap, expect or panic outside tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use orderflow_shared::edge::metrics::run;
use orderflow_shared::topology;
use scheduled_retry::{tick, Deadline, TickReport};
use serde_json::Value;

/// Time kept back from the deadline to finish the order in hand and return.
const MARGIN: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    orderflow_shared::edge::telemetry::init();
    let metrics = orderflow_shared::edge::metrics::emf(topology::SCHEDULED_RETRY);
    let deps = &orderflow_shared::adapters::aws::cold_start().await.deps;
    run(
        metrics,
        service_fn(move |event: LambdaEvent<Value>| async move {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
            let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            Ok::<TickReport, Error>(tick(deps, &Deadline::after(remaining, MARGIN)).await)
        }),
    )
    .await
}
