//! The dead letters of a running `orderflow-local serve`, through its `/_local` routes.

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use orderflow_shared::topology::TOPOLOGY;
use serde_json::{json, Value};

use super::{unknown_queue, DeadLetter, DeadLetterQueues};

/// A running runtime at `base` (`http://127.0.0.1:3000`).
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn new(base: &str) -> Http {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Http { base: base.trim_end_matches('/').to_string(), client }
    }

    /// Sends a request to a `/_local` path; the JSON answer of a 2xx, else its error
    /// message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder().method(method).uri(&url);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = request.body(Full::new(bytes)).map_err(|e| format!("{url}: {e}"))?;
        let response = self.client.request(request).await.map_err(|e| {
            format!(
                "cannot reach orderflow-local serve at {} ({e}); is it running? \
                 --data-dir DIR reads a stopped runtime's data directory",
                self.base
            )
        })?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("{url}: {e}"))?.to_bytes();
        let value: Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
        if status.is_success() {
            return Ok(value);
        }
        let message = value.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message");
        Err(format!("{url} answered {status}: {message}"))
    }
}

#[async_trait]
impl DeadLetterQueues for Http {
    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, String> {
        if TOPOLOGY.queue(queue).is_none() {
            return Err(unknown_queue(queue));
        }
        let value = self.call(Method::GET, &format!("/_local/queues/{queue}/dead-letters"), None).await?;
        serde_json::from_value(value).map_err(|e| format!("the dead letters of {queue} are not as expected: {e}"))
    }

    async fn redrive(&self, queue: &str) -> Result<Vec<String>, String> {
        if TOPOLOGY.queue(queue).is_none() {
            return Err(unknown_queue(queue));
        }
        let path = format!("/_local/queues/{queue}/dead-letters/redrive");
        let value = self.call(Method::POST, &path, Some(json!({"dry_run": false}))).await?;
        serde_json::from_value(value.get("message_ids").cloned().unwrap_or_default())
            .map_err(|e| format!("the redrive answer is not as expected: {e}"))
    }
}
