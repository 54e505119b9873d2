use std::sync::Arc;

use orderflow_shared::ports::{OutboundMessage, Via};
use serde_json::{json, Value};

use super::check::check;
use super::digest::Digest;
use super::driver::{Driver, Tracked};
use super::faults::{SoakFaults, RATES};
use super::plan::{plans, Audit, Placement, Reasons};
use super::rng::CERTAIN;
use super::runner::Runner;
use super::{run_with, start, Options};
use crate::runtime::Runtime;

fn options(orders: usize, seed: u64) -> Options {
    Options { orders, seed, data_dir: None }
}

/// Publishes an event about `order` as if a function had.
async fn publish(rt: &Runtime, id: &str, kind: &str, order: &str, data: Value) {
    let body = json!({"specversion": "1.0", "id": id, "type": kind, "subject": order, "data": data});
    let attributes = [("type".to_string(), kind.to_string())].into();
    let message = OutboundMessage {
        id: id.into(),
        topic: "order-events".into(),
        body: body.to_string(),
        attributes,
        via: Via::Topic,
    };
    rt.deps.publisher.publish(&message).await.unwrap();
}

fn first(orders: &[Tracked], matching: impl Fn(&Tracked) -> bool) -> String {
    orders.iter().find(|o| matching(o)).map(|o| o.plan.id.clone()).expect("the seed plans such an order")
}

#[tokio::test]
async fn the_checker_finds_a_doubled_effect_a_reused_id_a_wrong_state_and_a_stranger() {
    let (orders_n, seed) = (60, 11);
    let faults = Arc::new(SoakFaults::new(seed, RATES));
    let rt = start(&options(orders_n, seed), faults.clone()).await.unwrap();
    let reasons = Reasons::of(&rt.deps.rules.audit);
    let mut orders: Vec<Tracked> = plans(seed, orders_n, &reasons).into_iter().map(Tracked::new).collect();
    let mut driver = Driver::new(Runner::new(&rt, &faults), seed);
    driver.wave(0, &mut orders).await.unwrap();
    assert!(driver.violations.is_empty(), "{:?}", driver.violations);
    faults.switch(false);
    let clean = check(&rt, &orders, &mut Digest::read(&rt).await.unwrap()).await;
    assert!(clean.violations.is_empty(), "{:?}", clean.violations);

    let doubled = first(&orders, |o| o.plan.audit == Some(Audit::Pass));
    let data = json!({"order_id": doubled, "audit_status": "APPROVED"});
    publish(&rt, &format!("{doubled}:order.audit.approved:again"), "order.audit.approved", &doubled, data).await;
    let reused = first(&orders, |o| o.plan.audit.is_some() && o.plan.id != doubled);
    let data = json!({"order_id": reused, "attempt": 1, "changed": true});
    publish(&rt, &format!("{reused}:audit.requested:1"), "audit.requested", &reused, data).await;
    publish(&rt, "o-stranger:order.dispatched:1", "order.dispatched", "o-stranger", json!({})).await;
    let wrong = first(&orders, |o| matches!(o.plan.placement, Placement::Blocked { .. }));
    if let Some(order) = orders.iter_mut().find(|o| o.plan.id == wrong) {
        order.plan.placement = Placement::PrepaymentNever;
    }

    let dirty = check(&rt, &orders, &mut Digest::read(&rt).await.unwrap()).await;
    let about = |order: &str| dirty.violations.iter().filter(|v| v.order.as_deref() == Some(order)).count();
    assert!(about(&doubled) >= 1 && about(&reused) >= 1 && about("o-stranger") == 1, "{:?}", dirty.violations);
    assert!(about(&wrong) >= 2, "its status and its prepayment event: {:?}", dirty.violations);
}

#[tokio::test]
async fn with_every_delivery_failing_into_the_dead_letter_queues_redriving_completes_every_order() {
    let rates = super::faults::Rates { failed_record: CERTAIN, ..RATES };
    let report = run_with(&options(30, 4), rates).await.unwrap();
    assert!(report.passed(), "{report}");
    assert!(report.dead_letters.len() > 30, "{report}");
    assert!(report.dead_letters.iter().all(|d| !d.poison && d.receive_count >= 5), "{report}");
}

#[tokio::test]
async fn a_soak_replays_the_same_faults_and_outcomes_from_its_seed() {
    let a = run_with(&options(40, 8), RATES).await.unwrap();
    let b = run_with(&options(40, 8), RATES).await.unwrap();
    assert!(a.passed(), "{a}");
    assert_eq!((a.injected, a.states.clone(), a.topics.clone()), (b.injected, b.states, b.topics));
}

#[tokio::test]
async fn settling_waits_out_delayed_deliveries_while_the_relay_failure_queue_holds_a_record() {
    let quiet = super::faults::Rates {
        extra_copies: [(0, 1), (1, 0), (2, 0), (3, 0), (4, 0)],
        delayed: CERTAIN,
        crash_before_write: 0,
        crash_after_write: 0,
        crash_before_publish: 0,
        crash_after_publish: 0,
        failed_record: 0,
        ..RATES
    };
    let faults = Arc::new(SoakFaults::new(1, quiet));
    let rt = start(&options(1, 1), faults.clone()).await.unwrap();
    let queues: &dyn orderflow_shared::ports::QueueSender = rt.broker();
    let failures = rt.topology.stream.failure_queue.name;
    queues.send(failures, "{}", &Default::default()).await.unwrap();
    queues.send("notifications-queue", "{}", &Default::default()).await.unwrap();
    let before = rt.now();
    Runner::new(&rt, &faults).settle().await.unwrap();
    assert!(rt.now() > before, "the clock moved on to the delayed delivery");
    let stats = rt.queue_stats().await.unwrap();
    assert!(stats.iter().any(|s| s.name == failures && s.visible == 1), "{stats:?}");
}
