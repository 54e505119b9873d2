//! Processing an SQS batch the way every queue consumer here does: each record in its
//! own span named by its message id, SNS envelopes unwrapped, and only the failed
//! records reported back, so the rest of the batch is not redelivered.

use std::collections::BTreeMap;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::de::DeserializeOwned;
use tracing::{info_span, warn, Instrument};

use crate::error::Error;
use crate::messages::unwrap_sns;

/// One record, as the consumer sees it.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    /// The published message (unwrapped from its SNS envelope if it had one).
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub receive_count: u32,
}

/// As [`process`], with each record's body read as a `T` first: a body that is not one
/// fails its record (and ends in the dead-letter queue) with the field named.
pub async fn process_as<T, F, Fut>(event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: FnMut(T, Record) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    process(event, |record: Record| {
        let handled = parse_body::<T>(&record.body).map(|value| handle(value, record));
        async move { handled?.await }
    })
    .await
}

/// A record body as a `T`, with an error naming the field that does not fit (`body`
/// when the whole of it does not).
pub fn parse_body<T: DeserializeOwned>(body: &str) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        Error::validation(if field == "." { "body".into() } else { field }, e.inner().to_string())
    })?;
    de.end().map_err(|e| Error::validation("body", format!("is not one JSON value: {e}")))?;
    Ok(value)
}

/// Runs `handle` on each record in order and reports the ones that failed. A failed
/// record goes back to its queue and, after the queue's maxReceiveCount, to its
/// dead-letter queue; the log says which record failed and why.
pub async fn process<F, Fut>(event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(Record) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut failures = Vec::new();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let attributes: BTreeMap<String, String> =
            message.message_attributes.iter().filter_map(|(k, v)| Some((k.clone(), v.string_value.clone()?))).collect();
        let (body, attributes) = unwrap_sns(message.body.as_deref().unwrap_or_default(), &attributes);
        let receive_count = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let record = Record { message_id: message_id.clone(), body, attributes, receive_count };
        let span = info_span!("record", message_id = %message_id);
        if let Err(error) = handle(record).instrument(span).await {
            warn!(
                message_id = %message_id,
                receive_count,
                retryable = error.is_retryable(),
                error = %error,
                "record failed; it is retried, then kept in the dead-letter queue"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Note {
        id: String,
        count: u32,
    }

    #[test]
    fn a_body_is_read_as_its_type_or_refused_naming_the_field() {
        assert_eq!(parse_body::<Note>(r#"{"id":"n-1","count":2}"#).unwrap(), Note { id: "n-1".into(), count: 2 });
        let field = |body: &str| match parse_body::<Note>(body) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(field(r#"{"id":"n-1","count":-1}"#), "count");
        assert_eq!(field(r#"{"id":"n-1","id":"n-2","count":1}"#), "body");
        assert_eq!(field(r#"{"id":"n-1","count":1} trailing"#), "body");
        assert_eq!(field("not json"), "body");
    }
}
