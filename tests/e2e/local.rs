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
    exchange(port, method, path, &[("Host", "127.0.0.1"), ("Content-Type", "application/json")], body).await
}

/// An HTTP/1.1 exchange with exactly these headers (and `Content-Length`).
async fn exchange(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let request =
        format!("{method} {path} HTTP/1.1\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw[9..12].parse().unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn refusal(answer: &(u16, Value)) -> (u16, &str, &str) {
    let error = &answer.1["error"];
    (answer.0, error["code"].as_str().unwrap_or_default(), error["field"].as_str().unwrap_or_default())
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
    // The background pump relays the order's messages; settle waits for it.
    assert_eq!(http(port, "POST", "/_local/settle", "").await, (200, json!({"settled": true})));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_a_web_page_could_send_are_refused_and_change_nothing() {
    let rt = Arc::new(Runtime::start(&Options::embedded()).await.unwrap());
    let (address, serving) = server::bind(rt, 0).await.unwrap();
    let task = tokio::spawn(serving);
    let port = address.port();
    let host = format!("127.0.0.1:{port}");
    let forged = json!({"message": {"type": "audit.passed", "data": {"audit_id": "a-1", "order_id": "w-1"}}});
    let forged = forged.to_string();
    let order = retail_order("w-1", "c-1", "10.00").to_string();

    // A page on another site posts cross-origin, as JSON (fetch) or as a form (text/plain).
    let json_from_evil =
        [("Host", host.as_str()), ("Origin", "http://evil.example"), ("Content-Type", "application/json")];
    let answer = exchange(port, "POST", "/_local/topics/audit-results", &json_from_evil, &forged).await;
    assert_eq!(refusal(&answer), (403, "forbidden", "origin"));
    let form_from_evil = [("Host", host.as_str()), ("Origin", "http://evil.example"), ("Content-Type", "text/plain")];
    let answer = exchange(port, "POST", "/orders", &form_from_evil, &order).await;
    assert_eq!(refusal(&answer), (403, "forbidden", "origin"));
    // A DNS-rebinding page is "same origin" with the runtime under its own name.
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");
    let rebound =
        [("Host", evil_host.as_str()), ("Origin", evil_origin.as_str()), ("Content-Type", "application/json")];
    let answer = exchange(port, "POST", "/orders", &rebound, &order).await;
    assert_eq!(refusal(&answer), (403, "forbidden", "host"));
    let answer = exchange(port, "GET", "/_local/topics/order-events/messages", &rebound[..1], "").await;
    assert_eq!(refusal(&answer), (403, "forbidden", "host"));
    // A body that is not JSON is refused even without an Origin.
    let plain = [("Host", host.as_str()), ("Content-Type", "text/plain")];
    let answer = exchange(port, "POST", "/orders", &plain, &order).await;
    assert_eq!(refusal(&answer), (415, "validation_failed", "content-type"));
    let answer = exchange(port, "POST", "/_local/topics/audit-results", &plain, &forged).await;
    assert_eq!(refusal(&answer), (415, "validation_failed", "content-type"));

    // Nothing was stored or published.
    assert_eq!(http(port, "GET", "/orders/w-1", "").await.0, 404);
    for topic in ["audit-results", "order-events", "audit-requests"] {
        let path = format!("/_local/topics/{topic}/messages");
        assert_eq!(http(port, "GET", &path, "").await, (200, json!([])), "{topic}");
    }
    // A page served from localhost itself may call it.
    let local_page = [
        ("Host", host.as_str()),
        ("Origin", "http://localhost:5173"),
        ("Content-Type", "Application/JSON; charset=utf-8"),
    ];
    let (status, body) = exchange(port, "POST", "/orders", &local_page, &order).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("DISPATCHED")), "{body}");
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

/// `serve --keep-published 2`: a topic's route shows its latest two messages, oldest
/// first.
async fn shows_the_latest_published(h: Harness) {
    for n in 1..=4 {
        let message =
            json!({"message": {"type": "audit.passed", "data": {"order_id": format!("o-{n}")}}, "attributes": {}});
        assert_eq!(h.post("/_local/topics/audit-results", &message).await.0, 202);
    }
    h.settle().await;
    let (status, shown) = h.send("GET", "/_local/topics/audit-results/messages", b"").await;
    assert_eq!(status, 200, "{shown}");
    let orders: Vec<_> = shown.as_array().unwrap().iter().map(|m| m["message"]["data"]["order_id"].clone()).collect();
    assert_eq!(orders, [json!("o-3"), json!("o-4")], "{shown}");
}

mod keeping_the_latest_published {
    use orderflow_local::Backend;
    use orderflow_shared::adapters::aws::moto::{unique_name, MotoServer};

    use super::*;

    #[test]
    fn in_memory() {
        crate::support::run(async {
            shows_the_latest_published(Harness::keeping_published(Backend::Embedded, None, 2).await).await
        });
    }

    #[test]
    fn on_a_data_directory() {
        let dir = std::env::temp_dir().join(format!("orderflow-{}", unique_name("keep")));
        let data_dir = Some(dir.clone());
        crate::support::run(async move {
            shows_the_latest_published(Harness::keeping_published(Backend::Embedded, data_dir, 2).await).await
        });
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn aws() {
        let endpoint_url = MotoServer::shared().endpoint.clone();
        crate::support::run(async {
            shows_the_latest_published(Harness::keeping_published(Backend::Aws { endpoint_url }, None, 2).await).await
        });
    }
}

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
