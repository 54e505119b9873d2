//! The tick on the embedded backend, and the metrics it writes on Lambda.

use std::sync::Arc;

use chrono::Duration;
use orderflow_shared::adapters::embedded::{emf, Faults, FaultyStore, World};
use orderflow_shared::domain::audit::Failure;
use orderflow_shared::edge::metrics::{self, NAMESPACE};
use orderflow_shared::messages::audit::AuditResult;
use orderflow_shared::ports::Write;
use orderflow_shared::topology::SCHEDULED_RETRY;
use orderflow_shared::StoreError;
use serde_json::json;

use crate::{tick, Budget, Unlimited};

async fn failed_order(w: &World, id: &str) {
    let body = json!({
        "order_id": id, "customer_id": format!("c-{id}"), "business_type": "retail", "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": "100.00"}], "payment": {"method": "BANK_CARD"}
    });
    risk_check::orders::place(&w.deps, &orderflow_shared::edge::caller::Caller::Unrestricted, &body).await.unwrap();
    let failure = Failure {
        audit_id: format!("aud-{id}"),
        reason_code: "STOCK_SHORTAGE".into(),
        reason: "short".into(),
        occurred_at: w.deps.clock.now(),
    };
    audit_failure::flow::apply(&w.deps, &AuditResult::Failed { order_id: id.into(), failure }).await.unwrap();
}

#[tokio::test]
async fn nothing_is_requested_before_it_is_due() {
    let w = World::new();
    failed_order(&w, "o-1").await;
    assert_eq!(tick(&w.deps, &Unlimited).await.requested, 0);
}

#[tokio::test]
async fn a_due_rule_gets_one_request_and_moves_on() {
    let w = World::new();
    failed_order(&w, "o-1").await;
    w.clock.advance(Duration::minutes(6));
    let report = tick(&w.deps, &Unlimited).await;
    assert_eq!((report.requested, report.errors), (1, 0));
    assert_eq!(tick(&w.deps, &Unlimited).await.requested, 0);
    let requests = w.published("audit-requests").await;
    assert_eq!(requests.last().unwrap().message["data"], json!({"order_id": "o-1", "attempt": 2}));
}

#[tokio::test]
async fn rules_past_their_window_are_expired() {
    let w = World::new();
    failed_order(&w, "o-1").await;
    w.clock.advance(Duration::hours(25));
    let report = tick(&w.deps, &Unlimited).await;
    assert_eq!(report.expired, 1);
    let order =
        risk_check::orders::show(&w.deps, &orderflow_shared::edge::caller::Caller::Unrestricted, "o-1").await.unwrap();
    assert_eq!(order["audit_status"], "REJECTED");
}

struct Exhausted;

impl Budget for Exhausted {
    fn exhausted(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn an_exhausted_budget_stops_the_tick_and_leaves_the_work() {
    let w = World::new();
    failed_order(&w, "o-1").await;
    w.clock.advance(Duration::minutes(6));
    let report = tick(&w.deps, &Exhausted).await;
    assert!(report.stopped_early);
    assert_eq!(report.requested, 0);
    assert_eq!(tick(&w.deps, &Unlimited).await.requested, 1);
}

/// A table that refuses every write.
struct WritesFail;

impl Faults for WritesFail {
    fn before_write(&self, _write: &Write) -> Result<(), StoreError> {
        Err(StoreError::Backend("the table is unavailable".into()))
    }
}

#[tokio::test]
async fn a_tick_counts_what_it_acted_on_and_its_errors_in_valid_emf() {
    let collector = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE).init().unwrap();
    let w = World::new();
    failed_order(&w, "o-1").await;
    w.clock.advance(Duration::minutes(6));
    assert_eq!(tick(&w.deps, &Unlimited).await.requested, 1);
    let mut broken = World::new();
    failed_order(&broken, "o-2").await;
    broken.clock.advance(Duration::minutes(6));
    broken.deps.store = Arc::new(FaultyStore::new(broken.store.clone(), Arc::new(WritesFail)));
    assert_eq!(tick(&broken.deps, &Unlimited).await.errors, 1);
    let emitted = emf::flush(collector);
    for name in [metrics::PROCESSED, metrics::FAILED] {
        assert!(emf::contains(&emitted, name, &[("function", SCHEDULED_RETRY)]), "{name} missing from {emitted:?}");
    }
}
