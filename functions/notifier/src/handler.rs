//! SQS entry point: each record is one notification request.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_shared::app::Deps;
use orderflow_shared::error::Error;
use orderflow_shared::reaudit::NotificationRequest;
use orderflow_shared::sqs_batch::{self, Record};

use crate::render;

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch::process(event, |record: Record| async move {
        let mut de = serde_json::Deserializer::from_str(&record.body);
        let request: NotificationRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            Error::validation(if field == "." { "body".into() } else { field }, e.inner().to_string())
        })?;
        render::send_once(deps, &request).await
    })
    .await
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
