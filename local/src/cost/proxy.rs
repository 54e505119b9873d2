//! A counting HTTP proxy on 127.0.0.1 in front of moto_server: every request the AWS SDK
//! makes is forwarded unchanged and recorded with its service, operation, parsed body and
//! parsed answer, so the functions' code stays as it runs on Lambda.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    DynamoDb,
    Sns,
    Sqs,
    Other,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::DynamoDb => "DynamoDB",
            Service::Sns => "SNS",
            Service::Sqs => "SQS",
            Service::Other => "other",
        }
    }
}

/// One AWS request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    /// `PutItem`, `Publish`, `SendMessage`...
    pub operation: String,
    /// The answer was a 2xx.
    pub ok: bool,
    /// The JSON body (DynamoDB, SQS), or the form fields as strings (SNS).
    pub request: Value,
    /// The JSON answer; `Null` for an XML one (SNS).
    pub response: Value,
}

impl Call {
    /// A string field of the request (`QueueUrl`, `TopicArn`, `IndexName`...).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.request.get(name).and_then(Value::as_str)
    }
}

#[derive(Default)]
struct Recorder {
    paused: AtomicBool,
    calls: Mutex<Vec<Call>>,
}

pub struct Proxy {
    /// `http://127.0.0.1:PORT`, the endpoint to give the SDK.
    pub endpoint: String,
    recorder: Arc<Recorder>,
    server: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let recorder = Arc::new(Recorder::default());
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let (upstream, shared) = (Arc::<str>::from(upstream.trim_end_matches('/')), recorder.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream, recorder) = (client.clone(), upstream.clone(), shared.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| forward(request, client.clone(), upstream.clone(), recorder.clone()));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Proxy { endpoint, recorder, server })
    }

    /// Forgets what was recorded so far.
    pub fn reset(&self) {
        self.calls().clear();
    }

    /// What was recorded since the last reset, oldest first.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls())
    }

    /// While paused, requests are forwarded but not recorded.
    pub fn pause(&self, paused: bool) {
        self.recorder.paused.store(paused, Ordering::SeqCst);
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        self.recorder.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    request: Request<Incoming>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Arc<str>,
    recorder: Arc<Recorder>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // The Host header is kept, so moto builds queue URLs that point back at the proxy.
    let mut outbound = Request::builder().method(parts.method.clone()).uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        outbound = outbound.header(name, value);
    }
    let answer = match outbound.body(Full::new(body.clone())) {
        Ok(outbound) => client.request(outbound).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (status, headers, answer) = match answer {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            (parts.status, parts.headers, body.collect().await.map(|b| b.to_bytes()).unwrap_or_default())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::from(format!("cost proxy: {e}"))),
    };
    if !recorder.paused.load(Ordering::SeqCst) {
        let call = parse(&parts.headers, &body, status, &answer);
        recorder.calls.lock().unwrap_or_else(PoisonError::into_inner).push(call);
    }
    let mut response = Response::new(Full::new(answer));
    *response.status_mut() = status;
    for (name, value) in &headers {
        // The body is sent whole, so its framing is hyper's to set again.
        if ![CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}

fn parse(headers: &HeaderMap, body: &[u8], status: StatusCode, answer: &[u8]) -> Call {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let request = if body.first() == Some(&b'{') {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    } else {
        Value::Object(form_fields(body))
    };
    let operation = match target {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
        None => request.get("Action").and_then(Value::as_str).unwrap_or("?").to_string(),
    };
    Call {
        service: service(headers.get(AUTHORIZATION), target),
        operation,
        ok: status.is_success(),
        request,
        response: serde_json::from_slice(answer).unwrap_or(Value::Null),
    }
}

/// The service a SigV4 request was signed for (`Credential=.../us-east-1/sqs/aws4_request`),
/// else the one its `X-Amz-Target` names.
fn service(authorization: Option<&HeaderValue>, target: Option<&str>) -> Service {
    let scope = authorization.and_then(|v| v.to_str().ok()).and_then(|a| a.split("/aws4_request").next());
    let signed = scope.and_then(|s| s.rsplit('/').next()).unwrap_or_default();
    match (signed, target.and_then(|t| t.split('.').next())) {
        ("dynamodb", _) | (_, Some("DynamoDB_20120810")) => Service::DynamoDb,
        ("sqs", _) | (_, Some("AmazonSQS")) => Service::Sqs,
        ("sns", _) => Service::Sns,
        _ => Service::Other,
    }
}

/// `a=1&b=x+y%21` as `{"a": "1", "b": "x y!"}`.
fn form_fields(body: &[u8]) -> Map<String, Value> {
    let text = String::from_utf8_lossy(body);
    let pairs = text.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")));
    pairs.map(|(k, v)| (decode(k), Value::String(decode(v)))).collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_body_is_decoded_into_fields() {
        let fields = form_fields(b"Action=Publish&Message=%7B%22a%22%3A1%7D&Subject=a+b&Bad=%zz");
        assert_eq!(fields["Action"], "Publish");
        assert_eq!(fields["Message"], r#"{"a":1}"#);
        assert_eq!(fields["Subject"], "a b");
        assert_eq!(fields["Bad"], "%zz");
    }

    #[test]
    fn the_signing_scope_names_the_service() {
        let auth = HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=test/20261202/us-east-1/sqs/aws4_request, SignedHeaders=host",
        );
        assert_eq!(service(Some(&auth), Some("AmazonSQS.SendMessage")), Service::Sqs);
        assert_eq!(service(None, Some("DynamoDB_20120810.PutItem")), Service::DynamoDb);
        let sns = HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=test/20261202/us-east-1/sns/aws4_request");
        assert_eq!(service(Some(&sns), None), Service::Sns);
    }
}
