//! Which handler serves which route, queue and schedule: the part of the Lambda service
//! the local runtime plays. A function added to the topology is wired here.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::http::ApiResponse;
use orderflow_shared::topology::RISK_CHECK;

/// Invokes the HTTP function `function` with `request`.
pub async fn http(deps: &Deps, function: &str, request: Request) -> Response<Body> {
    match function {
        RISK_CHECK => risk_check::handle(deps, request).await,
        other => risk_check::handler::to_response(ApiResponse::error(
            500,
            "internal",
            &format!("function {other} is not wired into the local runtime"),
            None,
        )),
    }
}

/// Invokes the queue consumer `function` with a batch.
pub async fn sqs(_deps: &Deps, function: &str, _event: SqsEvent) -> Result<SqsBatchResponse, String> {
    Err(format!("no queue consumer named {function} in the local runtime"))
}

/// Invokes the scheduled function `function`.
pub async fn schedule(_deps: &Deps, function: &str) -> Result<(), String> {
    Err(format!("no scheduled function named {function} in the local runtime"))
}
