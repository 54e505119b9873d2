//! A fresh embedded runtime per case, on a manual clock, with its effects logged and a
//! baseline every entry can aim at: a dispatched retail order in fulfilment (`o-1`), an
//! order awaiting its prepayment (`o-hi`), a digital membership (`d-1`) and album
//! (`a-1`), a refund of the album pending a seller's review ([`REFUND`]), and a witness
//! order (`w-1`) that hostile inputs never name, whose processing shows that a bad
//! record did not take its batch down with it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orderflow_local::router::{self, Reply};
use orderflow_local::{pump, Backend, ClockMode, Options, Runtime};
use serde_json::{json, Value};

use crate::effects::{Bus, Effects, Sender, Store};
use crate::engine::Failure;

/// The manual clock's start.
pub const START: &str = "2026-11-22T10:00:00Z";
/// The orders of the baseline.
pub const ORDERS: &[&str] = &["o-1", "o-hi", "d-1", "a-1", "w-1"];
/// Stands for the baseline refund's id (known only once it is made) in a path.
pub const REFUND: &str = "{refund}";

pub struct World {
    pub rt: Runtime,
    pub effects: Arc<Effects>,
    /// The id of the baseline refund, pending review.
    pub refund: String,
}

pub fn start_time() -> DateTime<Utc> {
    START.parse().expect("START is RFC 3339")
}

/// `START` moved by `days`, as RFC 3339.
pub fn days_from_start(days: i64) -> String {
    (start_time() + chrono::Duration::days(days)).to_rfc3339()
}

pub fn retail(id: &str, price: &str) -> Value {
    json!({"order_id": id, "customer_id": format!("c-{id}"), "business_type": "retail", "currency": "CNY",
           "items": [{"sku": "A-1", "quantity": 2, "unit_price": price}],
           "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"},
           "contact": {"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"}})
}

/// A 360-day membership bought 30 days before the clock, paid by card and coins.
pub fn membership(id: &str) -> Value {
    json!({"order_id": id, "customer_id": format!("c-{id}"), "business_type": "digital", "currency": "CNY",
        "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00", "tax": "6.00", "fee": "1.00"}],
        "product": {"kind": "MEMBERSHIP", "service_start": days_from_start(-30), "service_end": days_from_start(330),
                    "entitlement": {"key": "KEY-1", "user_flags": ["VIP"], "service_content": "ALL_CHANNELS"}},
        "payment": {"method": "BANK_CARD", "paid_at": days_from_start(-30),
                    "splits": [{"channel": "BANK_CARD", "amount": "80.00"}, {"channel": "VIRTUAL_COINS", "amount": "27.00"}]}})
}

/// An album of 20 episodes, 8 released and 5 consumed, bought 3 days before the clock.
pub fn album(id: &str) -> Value {
    json!({"order_id": id, "customer_id": format!("c-{id}"), "business_type": "digital", "currency": "CNY",
        "items": [{"sku": "ALBUM-1", "quantity": 1, "unit_price": "60.00", "tax": "3.00", "fee": "0.50"}],
        "product": {"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5},
        "payment": {"method": "THIRD_PARTY", "paid_at": days_from_start(-3),
                    "splits": [{"channel": "THIRD_PARTY", "amount": "50.00"}, {"channel": "VIRTUAL_COINS", "amount": "13.50"}]}})
}

impl World {
    /// A runtime on `rules` (the shipped ones when `None`), with nothing in it.
    pub async fn empty(rules: Option<PathBuf>) -> Result<World, Failure> {
        let options = Options {
            backend: Backend::Embedded,
            rules,
            clock: ClockMode::Manual { start: start_time() },
            resource_prefix: String::new(),
            data_dir: None,
            faults: Default::default(),
            sync: Default::default(),
            keep_published: None,
        };
        let mut rt = Runtime::start(&options).await.map_err(|e| Failure::new("runtime does not start", e))?;
        let effects = Arc::new(Effects::default());
        rt.deps.store = Arc::new(Store(rt.deps.store.clone(), effects.clone()));
        rt.deps.publisher = Arc::new(Bus(rt.deps.publisher.clone(), effects.clone()));
        rt.deps.queues = rt.deps.queues.clone().map(|q| Arc::new(Sender(q, effects.clone())) as _);
        Ok(World { rt, effects, refund: String::new() })
    }

    /// A runtime with the baseline in place and settled.
    pub async fn baseline() -> Result<World, Failure> {
        let mut w = World::empty(None).await?;
        let expect = |what: &str, got: (u16, Value), status: &str| match got.1["status"].as_str() {
            Some(s) if s == status && got.0 < 300 => Ok(()),
            _ => Err(Failure::new(format!("baseline: {what} is not {status}"), got.1.to_string())),
        };
        expect("o-1", w.post("/orders", &retail("o-1", "50.00")).await, "DISPATCHED")?;
        expect("w-1", w.post("/orders", &retail("w-1", "50.00")).await, "DISPATCHED")?;
        expect("o-hi", w.post("/orders", &retail("o-hi", "100000.00")).await, "AWAITING_PREPAYMENT")?;
        expect("d-1", w.post("/orders", &membership("d-1")).await, "DISPATCHED")?;
        expect("a-1", w.post("/orders", &album("a-1")).await, "DISPATCHED")?;
        let refund = w.post("/refunds", &json!({"request_id": "r-a1", "order_id": "a-1", "scenario": "ALBUM"})).await;
        w.refund = refund.1["refund_id"].as_str().unwrap_or_default().to_string();
        expect("the refund of a-1", refund, "PENDING_REVIEW")?;
        w.settle().await?;
        Ok(w)
    }

    pub async fn call(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        router::handle(&self.rt, method, path, body).await
    }

    /// `(status, body as JSON or as a string)`.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let reply = self.call("POST", path, body.to_string().as_bytes()).await;
        (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body)))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let reply = self.call("GET", path, b"").await;
        (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body)))
    }

    /// Lets every queue drain; a queue that does not is a failure (a livelock).
    pub async fn settle(&self) -> Result<(), Failure> {
        pump::settle(&self.rt, Duration::from_secs(30))
            .await
            .map_err(|e| Failure::new("queues do not settle", format!("{e}\n  logs: {}", crate::capture::logs(1500))))
    }

    /// Every message in every dead-letter queue.
    pub async fn dead_letters(&self) -> usize {
        let mut n = 0;
        for queue in self.rt.topology.queues {
            n += self.rt.dead_letters(queue.name).await.ok().flatten().map_or(0, |m| m.len());
        }
        n
    }

    /// Messages on `topic` whose JSON text contains `needle`.
    pub async fn published_with(&self, topic: &str, needle: &str) -> usize {
        let all = self.rt.published(topic).await.ok().flatten().unwrap_or_default();
        all.iter().filter(|m| m.message.to_string().contains(needle)).count()
    }

    /// Every baseline order and refund still reads back (a hostile input did not leave
    /// something behind that breaks them).
    pub async fn baseline_readable(&self) -> Result<(), Failure> {
        let paths = ORDERS.iter().map(|id| format!("/orders/{id}")).chain([format!("/refunds/{}", self.refund)]);
        for path in paths {
            let (status, body) = self.get(&path).await;
            if status != 200 {
                return Err(Failure::new(format!("GET {path} fails after the case"), format!("{status} {body}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: the effect log sees the writes, publishes and sends of the
    /// functions, so "a refused request changed nothing" means something.
    #[tokio::test]
    async fn the_baseline_effects_are_logged() {
        let w = World::baseline().await.expect("baseline");
        let effects = w.effects.since(0);
        for expected in ["put ORDER#o-1", "publish order-events order.dispatched", "publish fulfilment-commands"] {
            assert!(effects.iter().any(|e| e.starts_with(expected)), "no {expected:?} in {effects:?}");
        }
    }
}
