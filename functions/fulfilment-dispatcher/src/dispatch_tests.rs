//! The queue consumer on the embedded backend, fed the `events/` fixtures.

use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_shared::adapters::embedded::{fixtures, World};

use super::handle;

fn fixture(name: &str) -> SqsEvent {
    fixtures::load(name)
}

async fn commands(w: &World) -> Vec<(String, String)> {
    w.relay().await.unwrap();
    let published = w.published("fulfilment-commands").await;
    published.iter().map(|m| (m.attributes["type"].clone(), m.attributes["system"].clone())).collect()
}

#[tokio::test]
async fn a_dispatched_order_triggers_the_first_set_once() {
    let w = World::new();
    for _ in 0..2 {
        let response = handle(&w.deps, fixture("sqs-order-dispatched.json")).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let trigger = |s: &str| ("fulfilment.trigger".to_string(), s.to_string());
    assert_eq!(commands(&w).await, [trigger("payment"), trigger("invoice")]);
}

#[tokio::test]
async fn a_reported_status_triggers_the_next_stage() {
    let w = World::new();
    handle(&w.deps, fixture("sqs-order-dispatched.json")).await;
    let response = handle(&w.deps, fixture("sqs-fulfilment-status.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(commands(&w).await.last(), Some(&("fulfilment.trigger".to_string(), "warehouse".to_string())));
}

#[tokio::test]
async fn a_status_for_an_order_never_dispatched_is_reported() {
    let w = World::new();
    let response = handle(&w.deps, fixture("sqs-fulfilment-status.json")).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(commands(&w).await.is_empty());
}
