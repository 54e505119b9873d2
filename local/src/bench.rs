//! `orderflow-local bench`: throughput measurements on the embedded backend. Run them
//! in release mode (`cargo run --release -p orderflow-local -- bench ...`); they report,
//! they do not assert.

use std::time::{Duration, Instant};

use chrono::Duration as Minutes;
use orderflow_shared::adapters::embedded::World;
use orderflow_shared::domain::audit::Failure;
use orderflow_shared::messages::audit::AuditResult;
use serde_json::{json, Value};

fn order_body(i: usize) -> Value {
    json!({
        "order_id": format!("bench-{i}"), "customer_id": format!("c-{}", i % 5000), "business_type": "retail",
        "currency": "CNY", "items": [{"sku": "A-1", "quantity": 1, "unit_price": "10.00"}],
        "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"}
    })
}

/// `n` dispatched orders, each with a re-audit rule after a retryable failure.
async fn orders_with_rules(n: usize) -> World {
    let w = World::new();
    for i in 0..n {
        risk_check::orders::place(&w.deps, &order_body(i)).await.expect("order placed");
        let failure = Failure {
            audit_id: format!("aud-{i}"),
            reason_code: "STOCK_SHORTAGE".into(),
            reason: "short".into(),
            occurred_at: w.clock_now(),
        };
        let result = AuditResult::Failed { order_id: format!("bench-{i}"), failure };
        audit_failure::flow::apply(&w.deps, &result).await.expect("failure applied");
    }
    w
}

trait Now {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Now for World {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        orderflow_shared::ports::Clock::now(self.clock.as_ref())
    }
}

fn summary(label: &str, runs: &mut [Duration], per_run: usize, unit: &str) {
    runs.sort();
    let median = runs[runs.len() / 2];
    let rate = per_run as f64 / median.as_secs_f64();
    println!(
        "{label}: median {median:?} over {} runs (min {:?}, max {:?}); {rate:.0} {unit}/s",
        runs.len(),
        runs[0],
        runs[runs.len() - 1]
    );
}

/// One schedule tick over `n` due rules.
pub async fn tick(n: usize, runs: usize) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let w = orders_with_rules(n).await;
        w.clock.advance(Minutes::minutes(10));
        let started = Instant::now();
        let report = scheduled_retry::tick(&w.deps, &scheduled_retry::Unlimited).await;
        times.push(started.elapsed());
        assert_eq!(report.requested, n, "every rule was due: {report:?}");
    }
    summary(&format!("scheduled tick over {n} due rules"), &mut times, n, "rules");
}

/// `n` orders through `POST /orders` (risk check, dispatch, events).
pub async fn intake(n: usize, runs: usize) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let w = World::new();
        let bodies: Vec<Value> = (0..n).map(order_body).collect();
        let started = Instant::now();
        for body in &bodies {
            risk_check::orders::place(&w.deps, body).await.expect("order placed");
        }
        times.push(started.elapsed());
    }
    summary(&format!("risk check intake of {n} orders"), &mut times, n, "orders");
}
