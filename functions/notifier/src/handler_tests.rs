//! The handler on the embedded backend, fed the `events/` fixture.

use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_shared::embedded::{fixtures, World};

use super::handle;

fn fixture() -> SqsEvent {
    fixtures::load("sqs-notification.json")
}

#[tokio::test]
async fn a_notification_is_rendered_and_published_with_team_and_severity() {
    let w = World::new();
    let response = handle(&w.deps, fixture()).await;
    assert!(response.batch_item_failures.is_empty());
    let published = w.bus.published("handler-notifications").unwrap();
    assert_eq!(published.len(), 1);
    let note = &published[0];
    assert_eq!((note.attributes["team"].as_str(), note.attributes["severity"].as_str()), ("inventory", "medium"));
    assert_eq!(note.attributes["type"], "notification");
    let data = &note.message["data"];
    assert_eq!(data["subject"], "Order o-1001 failed audit (STOCK_SHORTAGE); provisionally accepted");
    let body = data["body"].as_str().unwrap();
    assert!(body.contains("l***@example.com") && body.contains("*********8000"), "{body}");
    assert!(!body.contains('{'), "every placeholder is filled: {body}");
    assert_eq!(note.message["id"], "o-1001:notification:aud-1");
}

#[tokio::test]
async fn a_redelivered_notification_is_published_once() {
    let w = World::new();
    handle(&w.deps, fixture()).await;
    let response = handle(&w.deps, fixture()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(w.bus.published("handler-notifications").unwrap().len(), 1);
}

#[tokio::test]
async fn a_malformed_request_is_reported_naming_the_field() {
    let w = World::new();
    let mut event = fixture();
    let body = event.records[0].body.take().unwrap().replace("\"team\": \"inventory\",", "\"team\": 7,");
    event.records[0].body = Some(body);
    let response = handle(&w.deps, event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(w.bus.published("handler-notifications").unwrap().is_empty());
}
