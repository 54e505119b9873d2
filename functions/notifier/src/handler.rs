//! SQS entry point: each record is one notification request.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::sqs_batch::{self, Record};
use orderflow_shared::messages::audit::NotificationRequest;

use crate::render;

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch::process_as(deps, event, |request: NotificationRequest, _: Record| async move {
        render::send_once(deps, &request).await
    })
    .await
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
