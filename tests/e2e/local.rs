//! The local runtime as users run it: the server over real HTTP, the control routes,
//! the demo, and start-up errors.

use std::sync::Arc;

use orderflow_local::demo::Demo;
use orderflow_local::{server, Options, Runtime};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::scenario;
use crate::support::{retail_order, Harness};

/// A minimal HTTP/1.1 exchange, so the test sees exactly what a curl user would.
async fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw[9..12].parse().unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_the_api_and_control_routes_over_http() {
    let rt = Arc::new(Runtime::start(&Options::embedded()).await.unwrap());
    let (address, serving) = server::bind(rt, 0).await.unwrap();
    assert!(address.ip().is_loopback());
    let task = tokio::spawn(serving);
    let port = address.port();

    assert_eq!(http(port, "GET", "/health", "").await, (200, json!({"status": "ok"})));
    let (status, body) = http(port, "POST", "/orders", &retail_order("s-1", "c-1", "10.00").to_string()).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("DISPATCHED")));
    let (status, order) = http(port, "GET", "/orders/s-1", "").await;
    assert_eq!((status, order["order_id"].as_str()), (200, Some("s-1")));
    let (status, messages) = http(port, "GET", "/_local/topics/order-events/messages", "").await;
    assert_eq!(status, 200);
    assert_eq!(messages[0]["attributes"]["type"], "order.dispatched");
    assert!(messages[0]["message_id"].is_string() && messages[0]["published_at"].is_string());
    let (status, queues) = http(port, "GET", "/_local/queues", "").await;
    assert_eq!((status, queues.is_array()), (200, true));
    assert_eq!(http(port, "POST", "/_local/settle", "").await, (200, json!({"settled": true})));
    let (_, before) = http(port, "GET", "/_local/clock", "").await;
    assert_eq!(before["mode"], "manual");
    let (status, after) = http(port, "POST", "/_local/clock/advance", "{\"seconds\": 3600}").await;
    assert_eq!(status, 200);
    assert_ne!(before["now"], after["now"]);
    let (status, err) = http(port, "GET", "/_local/topics/nope/messages", "").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")));
    task.abort();
}

scenario!(outside_systems_publish_through_the_local_topic_route, |h: Harness| async move {
    let message =
        json!({"message": {"type": "audit.passed", "data": {"order_id": "o-1"}}, "attributes": {"source": "test"}});
    let (status, _) = h.post("/_local/topics/audit-results", &message).await;
    assert_eq!(status, 202);
    let published = h.published("audit-results").await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].attributes["type"], "audit.passed");
    assert_eq!(published[0].attributes["source"], "test");
    assert_eq!(published[0].message["data"]["order_id"], "o-1");
    let (status, err) = h.post("/_local/topics/audit-results", &json!({"attributes": {}})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("message")));
});

#[tokio::test]
async fn demo_shows_every_expected_hop() {
    let rt = Runtime::start(&Options::embedded()).await.unwrap();
    let hops = Demo::new(&rt).run().await.expect("every hop happens");
    assert!(hops >= 10);
}

#[tokio::test]
async fn a_bad_rules_file_stops_start_up_naming_the_field() {
    let path = std::env::temp_dir().join(format!("orderflow-bad-rules-{}.toml", std::process::id()));
    let text = orderflow_shared::rules::DEFAULT_RULES.replace("HIGH = 60", "HIGH = 10");
    std::fs::write(&path, text).unwrap();
    let options = Options { rules: Some(path.clone()), ..Options::embedded() };
    let err = Runtime::start(&options).await.err().expect("start-up refuses the file");
    std::fs::remove_file(&path).ok();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("risk.bands.HIGH"), "{err}");
}

#[tokio::test]
async fn the_system_clock_cannot_be_advanced() {
    let options = Options { clock: orderflow_local::ClockMode::System, ..Options::embedded() };
    let rt = Runtime::start(&options).await.unwrap();
    let reply = orderflow_local::router::handle(&rt, "POST", "/_local/clock/advance", b"{\"seconds\": 60}").await;
    assert_eq!(reply.status, 409);
}
