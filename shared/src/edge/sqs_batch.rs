//! Processing an SQS batch the way every queue consumer here does: each record in its
//! own span named by its message id, SNS envelopes unwrapped, and only the failed
//! records reported back, so the rest of the batch is not redelivered.

use std::collections::BTreeMap;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::de::DeserializeOwned;
use tracing::{info_span, warn, Instrument};

use crate::app::Deps;
use crate::edge::metrics;
use crate::error::Error;
use crate::messages::unwrap_sns;
use crate::store::dead_letters::{self, DeadLetterReason};
use crate::topology::{Queue, TOPOLOGY};
use crate::trace::{self, TRACEPARENT};

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
pub async fn process_as<T, F, Fut>(deps: &Deps, event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: FnMut(T, Record) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    process(deps, event, |record: Record| {
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
/// dead-letter queue; the log says which record failed and why, and when the consumer
/// gives up on it ([`gives_up`]) the reason is stored beside the dead letter
/// ([`dead_letters`]).
pub async fn process<F, Fut>(deps: &Deps, event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(Record) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut failures = Vec::new();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let source = message.event_source_arn.as_deref().unwrap_or_default();
        let attributes: BTreeMap<String, String> =
            message.message_attributes.iter().filter_map(|(k, v)| Some((k.clone(), v.string_value.clone()?))).collect();
        let (body, attributes) = unwrap_sns(message.body.as_deref().unwrap_or_default(), &attributes);
        let receive_count = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let queue = queue_of(source);
        let (function, queue_name) = queue.map_or(("unknown", "unknown"), |q| (q.consumer, q.name));
        if receive_count > 1 {
            metrics::record(metrics::RETRIED, function, queue_name);
        }
        if let Some(created) = metrics::created_at(&body) {
            metrics::hop_latency(function, queue_name, created, deps.clock.now());
        }
        let record = Record { message_id: message_id.clone(), body, attributes, receive_count };
        // The trace the message came with (or one derived from its id): whatever the
        // record causes, and every log line about it, carries it.
        let trace =
            trace::for_record(record.attributes.get(TRACEPARENT).map(String::as_str), &record.body, &message_id);
        let trace_id = trace.trace_id().to_string();
        let span = info_span!("record", message_id = %message_id, trace_id = %trace_id);
        // Boxed, as in `api::serve`: the consumers' futures are large.
        let handled =
            trace::acting(trace::Actor::Message(message_id.clone()), Box::pin(handle(record)).instrument(span));
        let outcome = trace::scope(trace, handled).await;
        metrics::record(if outcome.is_ok() { metrics::PROCESSED } else { metrics::FAILED }, function, queue_name);
        if let Err(error) = outcome {
            warn!(
                message_id = %message_id,
                trace_id = %trace_id,
                receive_count,
                retryable = error.is_retryable(),
                error = %error,
                "record failed; it is retried, then kept in the dead-letter queue"
            );
            if gives_up(queue, &error, receive_count) {
                metrics::record(metrics::DEAD_LETTERED, function, queue_name);
                let name = queue.map_or_else(|| source.rsplit(':').next().unwrap_or_default(), |q| q.name);
                let reason = DeadLetterReason::new(name, &message_id, &error, receive_count, deps.clock.now());
                if let Err(e) = dead_letters::record(deps.store.as_ref(), &reason).await {
                    warn!(message_id = %message_id, error = %e, "the dead-letter reason could not be stored");
                }
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Whether this failure is the consumer's last word on the record: it is refused as
/// permanently bad, or this was the last receive before the queue's redrive policy
/// moves it to the dead-letter queue.
pub fn gives_up(queue: Option<&Queue>, error: &Error, receive_count: u32) -> bool {
    !error.is_retryable() || queue.is_some_and(|q| receive_count >= q.max_receive_count)
}

/// The topology queue an event source ARN names: the local runtime's and the
/// provisioned queues are `<prefix><name>`, CloudFormation's `<stack>-<LogicalId>-<suffix>`.
pub fn queue_of(event_source_arn: &str) -> Option<&'static Queue> {
    let name = event_source_arn.rsplit(':').next()?;
    TOPOLOGY.queues.iter().find(|q| name.ends_with(q.name) || name.contains(&format!("-{}-", q.logical_id)))
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

    #[test]
    fn a_consumer_gives_up_on_poison_at_once_and_on_the_rest_at_the_last_receive() {
        let queue = queue_of("arn:aws:sqs:us-east-1:123456789012:orderflow-AuditResultsQueue-AbCdEf");
        assert_eq!(queue.map(|q| q.name), Some(crate::topology::AUDIT_RESULTS_QUEUE));
        let local = queue_of("arn:aws:sqs:local:000000000000:e2e-1-fulfilment-status-queue");
        assert_eq!(local.map(|q| q.name), Some(crate::topology::FULFILMENT_STATUS_QUEUE));
        assert_eq!(queue_of("arn:aws:sqs:local:000000000000:elsewhere"), None);
        let transient = Error::Queue("throttled".into());
        assert!(!gives_up(queue, &transient, 4));
        assert!(gives_up(queue, &transient, 5));
        assert!(!gives_up(None, &transient, 50));
        assert!(gives_up(None, &Error::validation("type", "unknown"), 1));
    }
}
