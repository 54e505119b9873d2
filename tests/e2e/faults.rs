//! The chain under injected faults on the embedded backend: every message delivered
//! twice, and writes failing as if the handler crashed there. Nothing is lost and no
//! effect happens twice.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use orderflow_shared::adapters::embedded::Faults;
use orderflow_shared::ports::Write;
use orderflow_shared::StoreError;

use crate::support::{audit_failed, audit_passed, Harness};

/// Every queue delivers every message twice.
struct Twice;

impl Faults for Twice {
    fn extra_copies(&self, _queue: &str) -> u32 {
        1
    }
}

/// Every third write fails before it is applied, as a crash at that point would.
struct CrashEveryThirdWrite(AtomicU32);

impl Faults for CrashEveryThirdWrite {
    fn before_write(&self, _write: &Write) -> Result<(), StoreError> {
        if self.0.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
            return Err(StoreError::Backend("injected crash".into()));
        }
        Ok(())
    }
}

/// Distinct CloudEvent ids of `kind` about `order` on `topic`.
async fn distinct(h: &Harness, topic: &str, kind: &str, order: &str) -> usize {
    let ids: BTreeSet<String> = h
        .about(topic, kind, order)
        .await
        .iter()
        .map(|m| m.message["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.len()
}

async fn run_chain(h: &Harness, orders: usize) {
    for i in 0..orders {
        let id = format!("f-{i}");
        // A crash may fail the request; the client retries it, as it would.
        for _ in 0..5 {
            let mut order = crate::support::retail_order(&id, &format!("cust-{id}"), "100.00");
            order["contact"] = serde_json::json!({"name": "Li Lei"});
            if h.post("/orders", &order).await.0 < 300 {
                break;
            }
        }
        h.publish_raw("audit.failed", audit_failed(&format!("aud-{i}"), &id, "STOCK_SHORTAGE", h.now())).await;
    }
    h.settle().await;
    // Long enough for the first re-audit (due after about 5 minutes, retried by the next
    // tick where a crash failed one), short of the second (about 10 minutes later).
    h.advance(10 * 60).await;
    for i in 0..orders {
        h.publish_raw("audit.passed", audit_passed(&format!("pass-{i}"), &format!("f-{i}"), h.now())).await;
    }
    h.settle().await;
}

async fn assert_each_effect_once(h: &Harness, orders: usize) {
    for i in 0..orders {
        let id = format!("f-{i}");
        let order = h.order(&id).await;
        assert_eq!(order["audit_status"], "APPROVED", "{id}: {order}");
        assert_eq!(distinct(h, "order-events", "order.dispatched", &id).await, 1, "{id}");
        assert_eq!(distinct(h, "order-events", "order.audit.provisionally_accepted", &id).await, 1, "{id}");
        assert_eq!(distinct(h, "order-events", "order.audit.approved", &id).await, 1, "{id}");
        assert_eq!(distinct(h, "handler-notifications", "notification", &id).await, 1, "{id}");
        assert_eq!(
            distinct(h, "audit-requests", "audit.requested", &id).await,
            2,
            "{id}: the first audit and one re-audit"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_message_delivered_twice_each_effect_happens_once() {
    let h = Harness::embedded_with(Arc::new(Twice)).await;
    run_chain(&h, 5).await;
    assert_each_effect_once(&h, 5).await;
    // Delivered twice, yet consumed once: the duplicates sent nothing more.
    assert_eq!(h.about("order-events", "order.audit.provisionally_accepted", "f-0").await.len(), 1);
    assert_eq!(h.about("handler-notifications", "notification", "f-0").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_writes_crashing_nothing_is_lost_or_done_twice() {
    let faults = Arc::new(CrashEveryThirdWrite(AtomicU32::new(0)));
    let h = Harness::embedded_with(faults.clone()).await;
    run_chain(&h, 5).await;
    assert_each_effect_once(&h, 5).await;
    let crashes = faults.0.load(Ordering::SeqCst) / 3;
    assert!(crashes >= 10, "only {crashes} crashes were injected");
}
