//! SQS entry point: each record is one audit result; the failed ones are reported back
//! so only they are retried (and end in the dead-letter queue).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::sqs_batch::{self, Record};
use orderflow_shared::messages::audit::parse_audit_result;

use crate::flow;

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch::process(deps, event, |record: Record| async move {
        let kind = record.attributes.get("type").map(String::as_str);
        let result = parse_audit_result(&record.body, kind, deps.clock.now())?;
        flow::apply(deps, &result).await
    })
    .await
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
