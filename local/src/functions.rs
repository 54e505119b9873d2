//! Which handler serves which route, queue and schedule: the part of the Lambda service
//! the local runtime plays. A function added to the topology is wired here.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::topology::{
    AUDIT_FAILURE, FULFILMENT_DISPATCHER, FULFILMENT_STATUS, NOTIFIER, OUTBOX_RELAY, REFUND_CALCULATOR, RISK_CHECK,
    SCHEDULED_RETRY,
};
use scheduled_retry::{TickReport, Unlimited};

/// How long each invocation of each function took, kept only while
/// [`hops::record`] is on (`orderflow-local bench chain` turns it on).
pub mod hops {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static ON: AtomicBool = AtomicBool::new(false);
    static TIMES: Mutex<BTreeMap<String, Vec<Duration>>> = Mutex::new(BTreeMap::new());

    /// Starts (or stops) recording, forgetting what was recorded.
    pub fn record(on: bool) {
        TIMES.lock().unwrap_or_else(|p| p.into_inner()).clear();
        ON.store(on, Ordering::SeqCst);
    }

    /// What was recorded: function name → invocation durations.
    pub fn take() -> BTreeMap<String, Vec<Duration>> {
        std::mem::take(&mut *TIMES.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(super) async fn timed<T>(function: &str, call: impl std::future::Future<Output = T>) -> T {
        if !ON.load(Ordering::Relaxed) {
            return call.await;
        }
        let started = Instant::now();
        let out = call.await;
        let took = started.elapsed();
        TIMES.lock().unwrap_or_else(|p| p.into_inner()).entry(function.to_string()).or_default().push(took);
        out
    }
}

/// Invokes the HTTP function `function` with `request`.
pub async fn http(deps: &Deps, function: &str, request: Request) -> Response<Body> {
    // Boxed: a function's future is large (the SDK's most of all), and the caller's
    // task would otherwise carry it inline.
    hops::timed(function, Box::pin(http_untimed(deps, function, request))).await
}

async fn http_untimed(deps: &Deps, function: &str, request: Request) -> Response<Body> {
    match function {
        RISK_CHECK => risk_check::handle(deps, request).await,
        FULFILMENT_STATUS => fulfilment_dispatcher::status_api::handle(deps, request).await,
        REFUND_CALCULATOR => refund_calculator::handle(deps, request).await,
        other => orderflow_shared::edge::api::json_response(ApiResponse::error(
            500,
            "internal",
            &format!("function {other} is not wired into the local runtime"),
            None,
        )),
    }
}

/// Invokes the queue consumer `function` with a batch.
pub async fn sqs(deps: &Deps, function: &str, event: SqsEvent) -> Result<SqsBatchResponse, String> {
    hops::timed(function, Box::pin(sqs_untimed(deps, function, event))).await
}

async fn sqs_untimed(deps: &Deps, function: &str, event: SqsEvent) -> Result<SqsBatchResponse, String> {
    match function {
        AUDIT_FAILURE => Ok(audit_failure::handle(deps, event).await),
        NOTIFIER => Ok(notifier::handle(deps, event).await),
        FULFILMENT_DISPATCHER => Ok(fulfilment_dispatcher::dispatch::handle(deps, event).await),
        other => Err(format!("no queue consumer named {other} in the local runtime")),
    }
}

/// Invokes the stream consumer `function` with a batch of change records.
pub async fn stream(deps: &Deps, function: &str, event: StreamEvent) -> Result<DynamoDbEventResponse, String> {
    hops::timed(function, Box::pin(stream_untimed(deps, function, event))).await
}

async fn stream_untimed(deps: &Deps, function: &str, event: StreamEvent) -> Result<DynamoDbEventResponse, String> {
    match function {
        OUTBOX_RELAY => Ok(outbox_relay::handle(deps, event).await),
        other => Err(format!("no stream consumer named {other} in the local runtime")),
    }
}

/// When the scheduled `function` next has work, so a manual clock can skip idle ticks.
pub async fn next_due(deps: &Deps, function: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    match function {
        SCHEDULED_RETRY => scheduled_retry::next_due(deps).await.map_err(|e| e.to_string()),
        other => Err(format!("no scheduled function named {other} in the local runtime")),
    }
}

/// Invokes the scheduled function `function`.
pub async fn schedule(deps: &Deps, function: &str) -> Result<TickReport, String> {
    match function {
        SCHEDULED_RETRY => Ok(scheduled_retry::tick(deps, &Unlimited).await),
        other => Err(format!("no scheduled function named {other} in the local runtime")),
    }
}
