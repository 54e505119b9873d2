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
/// `function` and counts its cold start; hand the collector to [`run`] (or
/// [`run_http`]), which flushes it to stdout after every invocation.
#[cfg(feature = "emf")]
#[allow(clippy::panic, reason = "called once at cold start; a second recorder is a bug that stops the function there")]
pub fn emf(function: &'static str) -> &'static metrics_cloudwatch_embedded::Collector {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .init()
        .unwrap_or_else(|e| panic!("the metrics recorder is set once, at start-up: {e}"));
    describe();
    cold_start(function);
    collector
}

#[cfg(all(feature = "emf", feature = "api"))]
pub use flush::run_http;
#[cfg(feature = "emf")]
pub use flush::{run, Flush};

/// The Lambda runtime with the metrics flushed after every invocation.
///
/// `metrics_cloudwatch_embedded::lambda::service::run` does the same, but `expect`s the
/// write to stdout to succeed: with `panic = "abort"` a failed write (the log pipe
/// closed or full) would crash the function with its invocation half answered. Here a
/// failed flush is logged to stderr and the invocation's answer stands; what the
/// metrics lose is counts, never an order's work. The collector and its EMF documents
/// are still the crate's.
#[cfg(feature = "emf")]
mod flush {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use lambda_runtime::layers::TracingLayer;
    use lambda_runtime::tower::{self, Service};
    use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent, LambdaInvocation};
    use metrics_cloudwatch_embedded::Collector;
    use serde::{Deserialize, Serialize};

    /// The EMF property that names the invocation's request id in every document.
    const REQUEST_ID: &str = "request_id";

    /// A [`tower::Service`] over Lambda invocations that names each invocation's request
    /// id in the metrics and flushes them to stdout once the inner service is done.
    pub struct Flush<S> {
        collector: &'static Collector,
        inner: S,
        out: fn() -> Box<dyn std::io::Write>,
    }

    impl<S> Flush<S> {
        pub fn new(collector: &'static Collector, inner: S) -> Flush<S> {
            Flush { collector, inner, out: || Box::new(std::io::stdout()) }
        }

        /// Writes the documents to what `out` opens instead of stdout.
        pub fn writing_to(self, out: fn() -> Box<dyn std::io::Write>) -> Flush<S> {
            Flush { out, ..self }
        }
    }

    impl<S> Service<LambdaInvocation> for Flush<S>
    where
        S: Service<LambdaInvocation>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = Flushed<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
            self.collector.set_property(REQUEST_ID, invocation.context.request_id.clone());
            Flushed { answer: self.inner.call(invocation), collector: self.collector, out: self.out }
        }
    }

    pin_project_lite::pin_project! {
        /// An invocation's answer, which flushes the metrics once it is ready.
        pub struct Flushed<F> {
            #[pin]
            answer: F,
            collector: &'static Collector,
            out: fn() -> Box<dyn std::io::Write>,
        }
    }

    impl<F: Future> Future for Flushed<F> {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let this = self.project();
            let answer = std::task::ready!(this.answer.poll(cx));
            if let Err(e) = this.collector.flush((this.out)()) {
                tracing::error!(error = %e, "the metrics of this invocation could not be written");
            }
            Poll::Ready(answer)
        }
    }

    /// Runs the Lambda runtime with `handler`, traced as `lambda_runtime` traces it and
    /// with the metrics flushed after every invocation ([`Flush`]).
    pub async fn run<A, F, R, B, S, D, E>(
        collector: &'static Collector,
        handler: F,
    ) -> Result<(), lambda_runtime::Error>
    where
        F: Service<LambdaEvent<A>, Response = R>,
        F::Future: Future<Output = Result<R, F::Error>>,
        F::Error: Into<Diagnostic> + std::fmt::Debug,
        A: for<'de> Deserialize<'de>,
        R: IntoFunctionResponse<B, S>,
        B: Serialize,
        S: futures_core::Stream<Item = Result<D, E>> + Unpin + Send + 'static,
        D: Into<bytes::Bytes> + Send,
        E: Into<lambda_runtime::Error> + Send + std::fmt::Debug,
    {
        lambda_runtime::Runtime::new(handler)
            .layer(TracingLayer::new())
            .layer(tower::layer::layer_fn(|inner| Flush::new(collector, inner)))
            .run()
            .await
    }

    /// [`run`] for an HTTP handler behind API Gateway.
    #[cfg(feature = "api")]
    pub async fn run_http<'a, R, S, E>(collector: &'static Collector, handler: S) -> Result<(), lambda_runtime::Error>
    where
        S: Service<lambda_http::Request, Response = R, Error = E>,
        S::Future: Send + 'a,
        R: lambda_http::IntoResponse,
        E: std::fmt::Debug + Into<Diagnostic>,
    {
        run(collector, lambda_http::Adapter::from(handler)).await
    }
}

#[cfg(all(test, feature = "emf"))]
#[path = "flush_tests.rs"]
mod flush_tests;
