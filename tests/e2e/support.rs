//! Shared helpers: a runtime on either backend, driven in-process through the same
//! router `orderflow-local serve` uses.

use chrono::{TimeZone, Utc};
use orderflow_local::router;
use orderflow_local::{Backend, ClockMode, Options, Runtime};
use orderflow_shared::adapters::aws::moto::{unique_name, MotoServer};
use orderflow_shared::adapters::embedded::Published;
use serde_json::{json, Value};

/// Runs a scenario once per backend: `scenario!(name, |h| async move { ... })` makes
/// `name::embedded` and `name::aws` (against moto_server).
#[macro_export]
macro_rules! scenario {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn embedded() {
                $crate::support::run(async { ($body)($crate::support::Harness::embedded().await).await });
            }

            #[test]
            fn aws() {
                $crate::support::run(async { ($body)($crate::support::Harness::aws().await).await });
            }
        }
    };
}

/// Runs a scenario on a runtime of two workers whose threads have the stack a Lambda
/// function's main thread has (8 MiB): a debug build polls the SDK's deeply nested
/// futures, which the 2 MiB of a test thread cannot hold. A panic in the scenario fails
/// the test with its own message.
pub fn run<F>(scenario: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(async { tokio::spawn(scenario).await });
    if let Err(failed) = outcome {
        match failed.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the scenario did not finish: {e}"),
        }
    }
}

pub struct Harness {
    pub rt: Runtime,
}

fn options(backend: Backend) -> Options {
    Options {
        backend,
        rules: None,
        clock: ClockMode::Manual { start: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap() },
        resource_prefix: format!("{}-", unique_name("e2e")),
        data_dir: None,
        faults: Default::default(),
        sync: Default::default(),
        keep_published: None,
    }
}

impl Harness {
    pub async fn embedded() -> Harness {
        Harness { rt: Runtime::start(&options(Backend::Embedded)).await.expect("embedded runtime starts") }
    }

    /// An embedded runtime that injects `faults`.
    pub async fn embedded_with(faults: std::sync::Arc<dyn orderflow_shared::adapters::embedded::Faults>) -> Harness {
        let options = Options { faults: orderflow_local::FaultPlan(faults), ..options(Backend::Embedded) };
        Harness { rt: Runtime::start(&options).await.expect("embedded runtime starts") }
    }

    /// A runtime keeping only each topic's latest `keep` messages (`serve
    /// --keep-published`), on `backend` (with `data_dir`, the durable embedded one).
    pub async fn keeping_published(backend: Backend, data_dir: Option<std::path::PathBuf>, keep: usize) -> Harness {
        let options = Options { data_dir, keep_published: Some(keep), ..options(backend) };
        Harness { rt: Runtime::start(&options).await.expect("runtime starts") }
    }

    pub async fn aws() -> Harness {
        let endpoint_url = MotoServer::shared().endpoint.clone();
        Harness {
            rt: Runtime::start(&options(Backend::Aws { endpoint_url })).await.expect("aws runtime starts on moto"),
        }
    }

    /// A runtime on either backend whose store writes go through `faults` (crashes
    /// around writes; queue faults apply on the embedded backend only).
    pub async fn with_faults(
        aws: bool,
        faults: std::sync::Arc<dyn orderflow_shared::adapters::embedded::Faults>,
    ) -> Harness {
        let backend =
            if aws { Backend::Aws { endpoint_url: MotoServer::shared().endpoint.clone() } } else { Backend::Embedded };
        let options = Options { faults: orderflow_local::FaultPlan(faults), ..options(backend) };
        Harness { rt: Runtime::start(&options).await.expect("runtime starts") }
    }

    pub async fn send(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let reply = router::handle(&self.rt, method, path, body).await;
        let value = serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("JSON reply, got {:?}", reply.body));
        (reply.status, value)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, body.to_string().as_bytes()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, b"").await
    }

    /// Everything published to `topic`, oldest first, once the outbox relay and the
    /// queues have settled (as a client of `serve`, whose pump runs in the background,
    /// sees it moments after its request).
    pub async fn published(&self, topic: &str) -> Vec<Published> {
        orderflow_local::pump::settle(&self.rt, std::time::Duration::from_secs(60)).await.expect("settles");
        self.rt.published(topic).await.expect("topic log readable").expect("known topic")
    }

    /// The `type` of every message on `topic`, oldest first.
    pub async fn kinds(&self, topic: &str) -> Vec<String> {
        self.published(topic).await.iter().map(|m| m.attributes["type"].clone()).collect()
    }

    pub async fn advance(&self, seconds: u32) {
        let (status, body) = self.post("/_local/clock/advance", &json!({ "seconds": seconds })).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// A retail order of one item at `price`, paid by bank card, same countries.
pub fn retail_order(id: &str, customer: &str, price: &str) -> Value {
    json!({
        "order_id": id, "customer_id": customer, "business_type": "retail", "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": price}],
        "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"}
    })
}

impl Harness {
    /// Publishes an audit result as the middle office would, and lets the chain settle.
    pub async fn audit_result(&self, kind: &str, data: Value) {
        let (status, body) = self.publish_raw(kind, data).await;
        assert_eq!(status, 202, "{body}");
        self.settle().await;
    }

    /// Publishes to `audit-results` without settling.
    pub async fn publish_raw(&self, kind: &str, data: Value) -> (u16, Value) {
        let message = json!({"message": data, "attributes": {"type": kind}});
        self.post("/_local/topics/audit-results", &message).await
    }

    pub async fn settle(&self) {
        let (status, body) = self.post("/_local/settle", &json!({})).await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn dead_letters(&self, queue: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/_local/queues/{queue}/dead-letters")).await;
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Places a low-risk retail order that is dispatched and awaits its audit.
    pub async fn dispatched_order(&self, id: &str) {
        let mut order = retail_order(id, &format!("cust-{id}"), "100.00");
        order["contact"] = json!({"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"});
        let (status, body) = self.post("/orders", &order).await;
        assert_eq!((status, body["status"].as_str()), (201, Some("DISPATCHED")), "{body}");
    }

    pub async fn order(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/orders/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Messages of `kind` on `topic` about `subject`.
    pub async fn about(&self, topic: &str, kind: &str, subject: &str) -> Vec<Published> {
        self.published(topic)
            .await
            .into_iter()
            .filter(|m| m.attributes.get("type").map(String::as_str) == Some(kind) && m.message["subject"] == subject)
            .collect()
    }

    /// The current time of the runtime's clock.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.rt.now()
    }
}

/// An `audit.failed` body for `order` at `at`.
pub fn audit_failed(audit_id: &str, order: &str, code: &str, at: chrono::DateTime<Utc>) -> Value {
    json!({"audit_id": audit_id, "order_id": order, "reason_code": code, "reason": format!("{code} at the middle office"),
           "occurred_at": at.to_rfc3339()})
}

pub fn audit_passed(audit_id: &str, order: &str, at: chrono::DateTime<Utc>) -> Value {
    json!({"audit_id": audit_id, "order_id": order, "occurred_at": at.to_rfc3339()})
}
