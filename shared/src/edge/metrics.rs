//! What every function counts, through the `metrics` facade: on Lambda the recorder is
//! the embedded-metric-format collector ([`emf`], feature `emf`), which writes one
//! CloudWatch EMF document per metric set to stdout after every invocation; the local
//! runtime installs its own recorder and shows the same counters.
//!
//! Every metric has the dimension `function`; the queue consumers' also `queue`.

use chrono::{DateTime, Utc};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "orderflow";

/// Records a consumer handled without error.
pub const PROCESSED: &str = "processed";
/// Records a consumer failed on (each failed receive).
pub const FAILED: &str = "failed";
/// Records received again after an earlier receive (a redelivery or a retry).
pub const RETRIED: &str = "retried";
/// Records a consumer gave up on (see [`crate::edge::sqs_batch::gives_up`]).
pub const DEAD_LETTERED: &str = "dead_lettered";
/// Messages the outbox relay published (or sent to a queue).
pub const PUBLISHED: &str = "published";
/// Milliseconds from a message's creation (its CloudEvents `time`) to its processing.
pub const HOP_LATENCY: &str = "hop_latency";
/// Starts of a new execution environment.
pub const COLD_STARTS: &str = "cold_starts";

/// Every metric name.
pub const ALL: [&str; 7] = [PROCESSED, FAILED, RETRIED, DEAD_LETTERED, PUBLISHED, HOP_LATENCY, COLD_STARTS];

/// Gives each metric its unit (CloudWatch's `Count`, `Milliseconds`).
pub fn describe() {
    for name in [PROCESSED, FAILED, RETRIED, DEAD_LETTERED, PUBLISHED, COLD_STARTS] {
        metrics::describe_counter!(name, metrics::Unit::Count, "records or messages");
    }
    metrics::describe_histogram!(HOP_LATENCY, metrics::Unit::Milliseconds, "message creation to processing");
}

/// Counts one record of `queue` consumed by `function` under `name`.
pub fn record(name: &'static str, function: &'static str, queue: &'static str) {
    metrics::counter!(name, "function" => function, "queue" => queue).increment(1);
}

/// Counts what a function that reads no queue (the relay's stream batches, the HTTP
/// API, the schedule) processed and failed.
pub fn processed(function: &'static str, processed: usize, failed: usize) {
    metrics::counter!(PROCESSED, "function" => function).increment(u64::try_from(processed).unwrap_or(u64::MAX));
    metrics::counter!(FAILED, "function" => function).increment(u64::try_from(failed).unwrap_or(u64::MAX));
}

/// Counts one request `function` answered: failed for a 5xx answer (the server's
/// fault), processed for any other, a refusal of bad input included.
pub fn answered(function: &'static str, status: u16) {
    let name = if status >= 500 { FAILED } else { PROCESSED };
    metrics::counter!(name, "function" => function).increment(1);
}

/// Records the time from `created` to `now` for a record of `queue`.
pub fn hop_latency(function: &'static str, queue: &'static str, created: DateTime<Utc>, now: DateTime<Utc>) {
    let millis = (now - created).num_milliseconds().max(0);
    metrics::histogram!(HOP_LATENCY, "function" => function, "queue" => queue).record(millis as f64);
}

/// Counts `count` messages `function` published.
pub fn published(function: &'static str, count: u64) {
    metrics::counter!(PUBLISHED, "function" => function).increment(count);
}

/// Counts the start of an execution environment of `function`.
pub fn cold_start(function: &'static str) {
    metrics::counter!(COLD_STARTS, "function" => function).increment(1);
}

/// The CloudEvents `time` of a message body, if it is one.
pub fn created_at(body: &str) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        time: Option<DateTime<Utc>>,
    }
    serde_json::from_str::<Envelope>(body).ok()?.time
}

/// Installs the EMF collector as the `metrics` recorder of the Lambda function
/// `function` and counts its cold start; hand the collector to
/// `metrics_cloudwatch_embedded::lambda::service::run` (or `run_http`), which flushes it
/// to stdout after every invocation.
#[cfg(feature = "emf")]
#[allow(clippy::panic, reason = "called once at cold start; a second recorder is a bug that stops the function there")]
pub fn emf(function: &'static str) -> &'static metrics_cloudwatch_embedded::Collector {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_lambda_request_id("request_id")
        .init()
        .unwrap_or_else(|e| panic!("the metrics recorder is set once, at start-up: {e}"));
    describe();
    cold_start(function);
    collector
}
