//! The handler on the embedded backend, fed the `events/` fixtures.

use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_shared::adapters::embedded::{fixtures, World};
use serde_json::{json, Value};

use super::handle;

fn fixture(name: &str) -> SqsEvent {
    fixtures::load(name)
}

async fn place_order(w: &World) {
    let body = json!({
        "order_id": "o-1001", "customer_id": "c-7", "business_type": "retail", "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": "100.00"}], "payment": {"method": "BANK_CARD"},
        "contact": {"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"}
    });
    let (status, _) =
        risk_check::orders::place(&w.deps, &orderflow_shared::edge::caller::Caller::Unrestricted, &body).await.unwrap();
    assert_eq!(status, 201);
}

async fn order(w: &World) -> Value {
    risk_check::orders::show(&w.deps, &orderflow_shared::edge::caller::Caller::Unrestricted, "o-1001").await.unwrap()
}

#[tokio::test]
async fn sns_wrapped_failure_provisionally_accepts_and_queues_a_notification() {
    let w = World::new();
    place_order(&w).await;
    let response = handle(&w.deps, fixture("sqs-audit-failed.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(order(&w).await["audit_status"], "PROVISIONALLY_ACCEPTED");
    assert!(w.kinds("order-events").await.contains(&"order.audit.provisionally_accepted".to_string()));
    use orderflow_shared::ports::Broker;
    let queued = w.bus.receive("notifications-queue", 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(!queued[0].body.contains("li.lei@example.com"), "personal data is masked before it is queued");
}

#[tokio::test]
async fn the_same_batch_twice_changes_nothing_more() {
    let w = World::new();
    place_order(&w).await;
    handle(&w.deps, fixture("sqs-audit-failed.json")).await;
    let before = order(&w).await;
    let response = handle(&w.deps, fixture("sqs-audit-failed.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(order(&w).await["history"], before["history"]);
    assert_eq!(w.kinds("order-events").await.iter().filter(|k| *k == "order.audit.provisionally_accepted").count(), 1);
}

#[tokio::test]
async fn a_pass_approves_and_retires_the_rule() {
    let w = World::new();
    place_order(&w).await;
    handle(&w.deps, fixture("sqs-audit-failed.json")).await;
    handle(&w.deps, fixture("sqs-audit-passed.json")).await;
    let order = order(&w).await;
    assert_eq!(order["audit_status"], "APPROVED");
    assert_eq!(order["reaudit_rule"], Value::Null);
}

#[tokio::test]
async fn only_the_bad_record_of_a_batch_is_reported() {
    let w = World::new();
    place_order(&w).await;
    let mut event = fixture("sqs-audit-failed.json");
    let mut bad = event.records[0].clone();
    bad.message_id = Some("bad-1".into());
    bad.body = Some("not json".into());
    event.records.insert(0, bad);
    let response = handle(&w.deps, event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["bad-1"]);
    assert_eq!(order(&w).await["audit_status"], "PROVISIONALLY_ACCEPTED");
}

#[tokio::test]
async fn a_failure_for_an_unknown_order_is_reported() {
    let w = World::new();
    let response = handle(&w.deps, fixture("sqs-audit-failed.json")).await;
    assert_eq!(response.batch_item_failures.len(), 1);
}
