//! One id across hops: an order's `traceparent`, from the request that placed it, is on
//! every message the order causes (as the CloudEvents extension and as a message
//! attribute), through the dispatcher, the middle office, the notifier and the
//! schedule, and on every log line about the order; a malformed one starts a new trace
//! and the request still succeeds. On both backends.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use orderflow_local::router::{self, Headers};
use orderflow_shared::trace::TraceContext;
use serde_json::{json, Value};

use crate::scenario;
use crate::support::{audit_failed, audit_passed, retail_order, Harness};

const TOPICS: &[&str] = &["order-events", "audit-requests", "handler-notifications", "fulfilment-commands"];

/// Every log line of this test binary, as the functions write them on Lambda (JSON, one
/// object per line, with the spans they are in).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter("info")
            .with_writer(move || Sink(sink.clone()))
            .finish();
        // Another test of this binary may have installed one first; then its lines are
        // not captured and the log check below fails, saying so.
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("log buffer poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Places `order` with a `traceparent` header; returns the answer and the trace it came back with.
async fn place(h: &Harness, order: &Value, traceparent: &str) -> (u16, Value, Option<String>) {
    let headers = Headers { authorization: None, traceparent: Some(traceparent) };
    let reply = router::handle_headers(&h.rt, "POST", "/orders", headers, order.to_string().as_bytes()).await;
    (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null), reply.traceparent)
}

/// Every message published about `order_id`, on every topic: (topic, type, body, attributes).
async fn messages_about(h: &Harness, order_id: &str) -> Vec<(String, String, Value, Value)> {
    let mut out = Vec::new();
    for topic in TOPICS {
        for m in h.published(topic).await {
            let about = m.message["subject"] == order_id || m.message["data"]["order_id"] == order_id;
            if about {
                let kind = m.attributes.get("type").cloned().unwrap_or_default();
                out.push((topic.to_string(), kind, m.message.clone(), json!(m.attributes)));
            }
        }
    }
    out
}

fn trace_id(traceparent: &Value) -> Option<String> {
    TraceContext::parse(traceparent.as_str()?).map(|t| t.trace_id().to_string())
}

scenario!(an_orders_trace_is_on_every_message_it_causes_and_every_log_line_about_it, |h: Harness| async move {
    let logs = logs();
    let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let id = "tr-1".to_string();
    let mut order = retail_order(&id, &format!("cust-{id}"), "100.00");
    order["contact"] = json!({"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"});
    let (status, placed, answered) = place(&h, &order, incoming).await;
    assert_eq!((status, placed["status"].as_str()), (201, Some("DISPATCHED")), "{placed}");
    assert_eq!(answered.as_deref(), Some(incoming), "the answer hands the request's trace back");
    h.settle().await;

    // The middle office continues the trace of the audit request it answers.
    let requested = h.about("audit-requests", "audit.requested", &id).await;
    let request_trace = requested.first().and_then(|m| m.attributes.get("traceparent").cloned()).unwrap_or_default();
    let failed = json!({"message": audit_failed("aud-tr-1", &id, "STOCK_SHORTAGE", h.now()),
                        "attributes": {"type": "audit.failed", "traceparent": request_trace}});
    let (status, body) = h.post("/_local/topics/audit-results", &failed).await;
    assert_eq!(status, 202, "{body}");
    h.settle().await;
    // The re-audit the schedule sends, then a pass from a middle office that does not
    // propagate traces: the order's messages still carry the order's trace.
    h.advance(30 * 60).await;
    h.settle().await;
    h.audit_result("audit.passed", audit_passed("aud-tr-2", &id, h.now())).await;

    let messages = messages_about(&h, &id).await;
    let kinds: Vec<&str> = messages.iter().map(|(_, kind, ..)| kind.as_str()).collect();
    for expected in
        ["order.dispatched", "audit.requested", "fulfilment.trigger", "notification", "order.audit.approved"]
    {
        assert!(kinds.contains(&expected), "no {expected} about {id}: {kinds:?}");
    }
    let requests = messages.iter().filter(|(_, kind, ..)| kind == "audit.requested").count();
    assert!(requests >= 2, "the schedule's re-audit request is among them: {kinds:?}");
    for (topic, kind, body, attributes) in &messages {
        let want = Some("0af7651916cd43dd8448eb211c80319c".to_string());
        assert_eq!(trace_id(&body["traceparent"]), want, "{topic} {kind}: the CloudEvents extension: {body}");
        assert_eq!(trace_id(&attributes["traceparent"]), want, "{topic} {kind}: the attribute: {attributes}");
    }

    // The timeline: every transition, who or what caused it, its trace, its messages.
    let (status, timeline) = h.get(&format!("/orders/{id}/timeline")).await;
    assert_eq!(status, 200, "{timeline}");
    assert_eq!(timeline["traceparent"], incoming, "{timeline}");
    let transitions = timeline["transitions"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, String, String)> = transitions
        .iter()
        .map(|t| {
            let by = t["by"]["kind"].as_str().unwrap_or("-").to_string();
            (t["events"].to_string(), by, t["to"].as_str().unwrap_or("-").to_string())
        })
        .collect();
    let expected = [
        (r#"["DISPATCHED"]"#, "caller", "DISPATCHED/PENDING"),
        (r#"["AUDIT_PROVISIONALLY_ACCEPTED"]"#, "message", "DISPATCHED/PROVISIONALLY_ACCEPTED"),
        (r#"["REAUDIT_REQUESTED"]"#, "schedule", "DISPATCHED/PROVISIONALLY_ACCEPTED"),
        (r#"["REAUDIT_REQUESTED"]"#, "schedule", "DISPATCHED/PROVISIONALLY_ACCEPTED"),
        (r#"["AUDIT_APPROVED"]"#, "message", "DISPATCHED/APPROVED"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(e, b, t)| (e.to_string(), b.to_string(), t.to_string())).collect();
    assert_eq!(summary, expected, "{timeline}");
    let placed_by = &transitions[0];
    assert_eq!(placed_by["trace_id"], "0af7651916cd43dd8448eb211c80319c", "{placed_by}");
    assert_eq!(transitions[0].get("from"), None, "the placement has no state before: {placed_by}");
    let sent: Vec<&str> =
        transitions[0]["messages"].as_array().into_iter().flatten().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(sent, ["order.dispatched", "audit.requested"], "{placed_by}");
    assert_eq!(transitions[2]["by"]["id"], "reaudit-tick", "{timeline}");
    for t in &transitions[..4] {
        assert_eq!(t["trace_id"], "0af7651916cd43dd8448eb211c80319c", "in the order's trace: {t}");
    }

    // A malformed traceparent starts a new trace; the request succeeds.
    let other = "tr-x2".to_string();
    let (status, placed, answered) = place(&h, &retail_order(&other, "cust-x", "100.00"), "00-not-a-trace-01").await;
    assert_eq!(status, 201, "{placed}");
    let started = answered.as_deref().and_then(TraceContext::parse).expect("a new, valid traceparent");
    assert_ne!(started.trace_id(), "0af7651916cd43dd8448eb211c80319c");
    h.settle().await;
    let dispatched = h.about("order-events", "order.dispatched", &other).await;
    assert_eq!(trace_id(&dispatched[0].message["traceparent"]).as_deref(), Some(started.trace_id()));

    // Every log line that names the order is in a span carrying its trace id.
    let text = String::from_utf8_lossy(&logs.lock().expect("log buffer").clone()).into_owned();
    let about: Vec<&str> =
        text.lines().filter(|line| line.contains(&format!("\"{id}\"")) || line.contains(&format!("\"{id}:"))).collect();
    assert!(!about.is_empty(), "no log line names {id}; the log capture is not installed");
    for line in about {
        assert!(
            line.contains("0af7651916cd43dd8448eb211c80319c"),
            "a log line about {id} without its trace id: {line}"
        );
    }
});
