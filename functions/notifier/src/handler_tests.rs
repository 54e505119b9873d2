//! The handler on the embedded backend, fed the `events/` fixture.

use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_shared::adapters::embedded::{fixtures, World};

use super::handle;

fn fixture() -> SqsEvent {
    fixtures::load("sqs-notification.json")
}

#[tokio::test]
async fn a_notification_is_rendered_and_published_with_team_and_severity() {
    let w = World::new();
    let response = handle(&w.deps, fixture()).await;
    assert!(response.batch_item_failures.is_empty());
    let published = w.published("handler-notifications").await;
    assert_eq!(published.len(), 1);
    let note = &published[0];
    assert_eq!((note.attributes["team"].as_str(), note.attributes["severity"].as_str()), ("inventory", "medium"));
    assert_eq!(note.attributes["type"], "notification");
    let data = &note.message["data"];
    assert_eq!(data["subject"], "Order o-1001 failed audit (STOCK_SHORTAGE); provisionally accepted");
    let body = data["body"].as_str().unwrap();
    assert!(body.contains("l***@example.com") && body.contains("*********8000"), "{body}");
    assert!(body.contains("Customer c-7: L*** L***, "), "the name arrives masked and is shown so: {body}");
    assert_eq!(data["user"]["name"], "L*** L***");
    assert!(!body.contains('{'), "every placeholder is filled: {body}");
    assert_eq!(note.message["id"], "o-1001:notification:aud-1");
}

#[tokio::test]
async fn a_notification_without_a_contact_shows_dashes() {
    let w = World::new();
    let mut event = fixture();
    let body = event.records[0].body.take().unwrap();
    let mut request: serde_json::Value = serde_json::from_str(&body).unwrap();
    request["user"] = serde_json::json!({"customer_id": "c-7", "name": null, "email": null, "phone": null});
    event.records[0].body = Some(request.to_string());
    let response = handle(&w.deps, event).await;
    assert!(response.batch_item_failures.is_empty());
    let published = w.published("handler-notifications").await;
    let body = published[0].message["data"]["body"].as_str().unwrap();
    assert!(body.contains("Customer c-7: -, -, -."), "{body}");
}

#[tokio::test]
async fn a_name_queued_in_clear_is_masked_before_it_is_shown() {
    let w = World::new();
    let mut event = fixture();
    let body = event.records[0].body.take().unwrap().replace("L*** L***", "Li Lei");
    event.records[0].body = Some(body);
    let response = handle(&w.deps, event).await;
    assert!(response.batch_item_failures.is_empty());
    let published = w.published("handler-notifications").await;
    let data = &published[0].message["data"];
    assert_eq!(data["user"]["name"], "L*** L***");
    assert!(data["body"].as_str().unwrap().contains("Customer c-7: L*** L***, "), "{data}");
    assert!(!published[0].message.to_string().contains("Li Lei"));
}

#[tokio::test]
async fn a_redelivered_notification_is_published_once() {
    let w = World::new();
    handle(&w.deps, fixture()).await;
    let response = handle(&w.deps, fixture()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(w.published("handler-notifications").await.len(), 1);
}

#[tokio::test]
async fn a_malformed_request_is_reported_naming_the_field() {
    let w = World::new();
    let mut event = fixture();
    let body = event.records[0].body.take().unwrap().replace("\"team\": \"inventory\",", "\"team\": 7,");
    event.records[0].body = Some(body);
    let response = handle(&w.deps, event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(w.published("handler-notifications").await.is_empty());
}
