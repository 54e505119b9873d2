//! The handler on the embedded backend, fed the `events/` fixtures that
//! `cargo lambda invoke --data-file` uses.

use chrono::Duration;
use orderflow_shared::adapters::embedded::{fixtures, World};
use serde_json::{json, Value};

use super::handle;

fn fixture(name: &str) -> Value {
    fixtures::load(name)
}

async fn invoke(w: &World, event: &Value) -> (u16, Value) {
    fixtures::answer(handle(&w.deps, fixtures::request(event)).await)
}

fn with_body(mut event: Value, body: Value) -> Value {
    event["body"] = json!(body.to_string());
    event
}

#[tokio::test]
async fn fixture_order_is_dispatched_and_announced() {
    let w = World::new();
    let (status, body) = invoke(&w, &fixture("api-post-order.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "DISPATCHED");
    assert_eq!(body["risk"]["level"], "LOW");
    assert_eq!(w.kinds("order-events").await, ["order.dispatched"]);
    assert_eq!(w.published("order-events").await[0].attributes["business_type"], "retail");
    assert_eq!(w.kinds("audit-requests").await, ["audit.requested"]);
    let (status, order) = invoke(&w, &fixture("api-get-order.json")).await;
    assert_eq!(status, 200);
    assert_eq!(order["audit_status"], "PENDING");
    assert_eq!(order["history"][0]["event"], "DISPATCHED");
}

#[tokio::test]
async fn high_risk_order_waits_for_its_prepayment_then_dispatches() {
    let w = World::new();
    let (status, body) = invoke(&w, &fixture("api-post-order-high-risk.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "AWAITING_PREPAYMENT");
    assert_eq!(body["prepayment"]["amount"], "60000.00");
    assert_eq!(w.kinds("order-events").await, ["order.prepayment_requested"]);
    let (status, body) = invoke(&w, &fixture("api-post-prepayment.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("DISPATCHED")), "{body}");
    assert_eq!(w.kinds("order-events").await, ["order.prepayment_requested", "order.dispatched"]);
    // The same payment again changes nothing and answers the same.
    let (status, again) = invoke(&w, &fixture("api-post-prepayment.json")).await;
    assert_eq!((status, again), (200, body));
}

#[tokio::test]
async fn prepayment_with_the_wrong_amount_is_refused_naming_the_field() {
    let w = World::new();
    invoke(&w, &fixture("api-post-order-high-risk.json")).await;
    let event = with_body(
        fixture("api-post-prepayment.json"),
        json!({"payment_ref": "p-1", "amount": "1.00", "currency": "CNY"}),
    );
    let (status, body) = invoke(&w, &event).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "amount");
    assert_eq!(w.kinds("order-events").await, ["order.prepayment_requested"]);
}

#[tokio::test]
async fn late_prepayment_is_refused_and_cancels_the_order() {
    let w = World::new();
    invoke(&w, &fixture("api-post-order-high-risk.json")).await;
    w.clock.advance(Duration::days(2));
    let (status, body) = invoke(&w, &fixture("api-post-prepayment.json")).await;
    assert_eq!(status, 409, "{body}");
    let get = with_body(fixture("api-get-order.json"), json!(null));
    let mut get = get;
    get["rawPath"] = json!("/orders/o-2001");
    get["requestContext"]["http"]["path"] = json!("/orders/o-2001");
    let (_, order) = invoke(&w, &get).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(w.kinds("order-events").await, ["order.prepayment_requested", "order.rejected"]);
}

#[tokio::test]
async fn health_check_answers_ok() {
    let w = World::new();
    assert_eq!(invoke(&w, &fixture("api-get-health.json")).await, (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn unknown_route_and_method_answer_json_errors() {
    let w = World::new();
    let mut event = fixture("api-get-health.json");
    event["rawPath"] = json!("/nope");
    event["requestContext"]["http"]["path"] = json!("/nope");
    let (status, body) = invoke(&w, &event).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let mut event = fixture("api-get-health.json");
    event["requestContext"]["http"]["method"] = json!("DELETE");
    let (status, _) = invoke(&w, &event).await;
    assert_eq!(status, 405);
}
