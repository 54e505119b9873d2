//! The metrics are flushed after every invocation, and a write that fails loses the
//! metrics, never the invocation's answer.

use std::sync::Mutex;

use lambda_runtime::tower::{service_fn, Service};
use lambda_runtime::{Context, LambdaInvocation};

use super::Flush;
use crate::adapters::embedded::emf;

static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Appends to [`WRITTEN`].
struct Kept;

impl std::io::Write for Kept {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        WRITTEN.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A log pipe that was closed.
struct Closed;

impl std::io::Write for Closed {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}

fn invocation(request_id: &str) -> LambdaInvocation {
    let mut context = Context::default();
    context.request_id = request_id.into();
    LambdaInvocation { parts: http::Response::new(()).into_parts().0, body: Default::default(), context }
}

#[tokio::test]
async fn every_invocation_is_answered_and_its_metrics_flushed_even_when_stdout_fails() {
    let collector = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(super::NAMESPACE).init().unwrap();
    let counting = || {
        service_fn(|invocation: LambdaInvocation| async move {
            super::published("test-function", 2);
            Ok::<_, std::convert::Infallible>(invocation.context.request_id)
        })
    };

    let mut kept = Flush::new(collector, counting()).writing_to(|| Box::new(Kept));
    assert_eq!(kept.call(invocation("req-1")).await.unwrap(), "req-1");
    let written = String::from_utf8(std::mem::take(&mut *WRITTEN.lock().unwrap())).unwrap();
    let documents: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        documents.iter().any(|d| d["published"] == 2 && d["request_id"] == "req-1" && d["function"] == "test-function"),
        "{written}"
    );
    assert!(written.lines().all(|line| !emf::document(line).is_empty()), "{written}");

    let mut closed = Flush::new(collector, counting()).writing_to(|| Box::new(Closed));
    assert_eq!(closed.call(invocation("req-2")).await.unwrap(), "req-2", "the answer stands");
}
