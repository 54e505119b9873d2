use orderflow_shared::adapters::embedded::stream::lambda_event;
use orderflow_shared::adapters::embedded::World;
use orderflow_shared::ports::{Broker, Condition, Item, Key, OutboundMessage, StateStore, Via, Write};
use serde_json::{json, Value};

use super::*;

fn message(id: &str, topic: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        topic: topic.into(),
        body: json!({"id": id}).to_string(),
        attributes: [("type".to_string(), "order.dispatched".to_string())].into(),
        via: Via::Topic,
    }
}

async fn put(w: &World, sk: &str, version: Option<u64>, outbox: Vec<OutboundMessage>) {
    let item = Item::new(Key::new("ORDER#o-1", sk), "{}".into()).with_outbox(outbox);
    let condition = version.map_or(Condition::NotExists, Condition::VersionIs);
    w.store.write(Write::Put { item, condition }).await.unwrap();
}

fn event(w: &World) -> Event {
    serde_json::from_value(lambda_event(&w.store.changes_after(0, 100))).unwrap()
}

fn published_ids(w: &World) -> Vec<String> {
    let all = w.bus.published("order-events").unwrap();
    all.iter().map(|m| m.message["id"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn each_record_sends_what_its_new_image_added_in_order() {
    let w = World::new();
    put(&w, "ORDER", None, vec![message("a", "order-events"), message("b", "order-events")]).await;
    // A write without messages (a transition that sends nothing) adds nothing.
    put(&w, "ORDER", Some(1), vec![]).await;
    put(&w, "ORDER", Some(2), vec![message("c", "order-events")]).await;
    let response = handle(&w.deps, event(&w)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(published_ids(&w), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_write_that_keeps_some_messages_sends_only_the_ones_it_added_within_and_across_batches() {
    let w = World::new();
    put(&w, "ORDER", None, vec![message("a", "order-events"), message("b", "order-events")]).await;
    put(&w, "ORDER", Some(1), vec![message("b", "order-events"), message("c", "order-events")]).await;
    handle(&w.deps, event(&w)).await;
    assert_eq!(published_ids(&w), ["a", "b", "c"]);
    // The next batch's old image is the outbox the last batch's new image held.
    put(&w, "ORDER", Some(2), vec![message("c", "order-events"), message("d", "order-events")]).await;
    // The same messages again add nothing.
    put(&w, "ORDER", Some(3), vec![message("c", "order-events"), message("d", "order-events")]).await;
    let changes = w.store.changes_after(0, 100);
    let later: Vec<_> = changes.into_iter().skip(2).collect();
    let event: Event = serde_json::from_value(lambda_event(&later)).unwrap();
    let response = handle(&w.deps, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(published_ids(&w), ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn a_redelivered_batch_sends_the_same_ids_again_and_nothing_else() {
    let w = World::new();
    put(&w, "ORDER", None, vec![message("a", "order-events")]).await;
    handle(&w.deps, event(&w)).await;
    handle(&w.deps, event(&w)).await;
    assert_eq!(published_ids(&w), ["a", "a"]);
}

#[tokio::test]
async fn a_failing_send_is_reported_and_the_records_after_it_wait() {
    let w = World::new();
    put(&w, "ORDER", None, vec![message("a", "order-events")]).await;
    put(&w, "OTHER", None, vec![message("x", "no-such-topic")]).await;
    put(&w, "ORDER", Some(1), vec![message("c", "order-events")]).await;
    let response = handle(&w.deps, event(&w)).await;
    let failed: Vec<_> = response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect();
    let second = w.store.changes_after(0, 100)[1].sequence;
    assert_eq!(failed, [format!("{second:021}")]);
    // The item's later message does not overtake the failed one.
    assert_eq!(published_ids(&w), ["a"]);
}

#[tokio::test]
async fn an_unreadable_record_goes_to_the_failure_queue_with_its_reason_and_the_rest_are_sent() {
    let w = World::new();
    put(&w, "ORDER", None, vec![message("a", "order-events")]).await;
    put(&w, "ORDER", Some(1), vec![message("c", "order-events")]).await;
    let mut records = lambda_event(&w.store.changes_after(0, 100));
    let first: Value = records["Records"][0].clone();
    let mut corrupt = first.clone();
    corrupt["eventID"] = json!("bad-1");
    // Deflated, but not a list of messages.
    let deflated = {
        use std::io::Write as _;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(br#"[{"not": "a message"}]"#).unwrap();
        e.finish().unwrap()
    };
    corrupt["dynamodb"]["NewImage"]["outbox"] =
        serde_json::to_value(serde_dynamo::AttributeValue::B(deflated)).unwrap();
    records["Records"] = json!([corrupt, records["Records"][1].clone()]);
    let response = handle(&w.deps, serde_json::from_value(records).unwrap()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(published_ids(&w), ["c"]);
    let parked = w.bus.receive(FAILURE_QUEUE, 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    let body: Value = serde_json::from_str(&parked[0].body).unwrap();
    assert!(body["reason"].as_str().unwrap().starts_with("new image: the outbox is not a list of messages"), "{body}");
    assert_eq!(body["keys"], json!({"pk": "ORDER#o-1", "sk": "ORDER"}));
    assert_eq!(parked[0].attributes["type"], UNREADABLE);
}

#[tokio::test]
async fn a_batch_of_records_sends_its_messages_to_one_topic_ten_at_a_time() {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use orderflow_shared::error::Error;
    use orderflow_shared::ports::Publisher;

    /// Counts publish requests, and fails the one that carries `fail_id`.
    struct Requests {
        batches: Mutex<Vec<Vec<String>>>,
        fail_id: &'static str,
    }

    #[async_trait]
    impl Publisher for Requests {
        async fn publish(&self, message: &OutboundMessage) -> std::result::Result<(), Error> {
            self.publish_batch(std::slice::from_ref(message)).await
        }
        async fn publish_batch(&self, messages: &[OutboundMessage]) -> std::result::Result<(), Error> {
            if messages.iter().any(|m| m.id == self.fail_id) {
                return Err(Error::Publish("the topic is down".into()));
            }
            self.batches.lock().unwrap().push(messages.iter().map(|m| m.id.clone()).collect());
            Ok(())
        }
    }

    let w = World::new();
    // Twelve records of one message each, all to order-events.
    for i in 0..12 {
        put(&w, &format!("ITEM#{i:02}"), None, vec![message(&format!("m{i:02}"), "order-events")]).await;
    }
    let requests = std::sync::Arc::new(Requests { batches: Mutex::new(Vec::new()), fail_id: "none" });
    let deps = Deps { publisher: requests.clone(), ..w.deps.clone() };
    let response = handle(&deps, event(&w)).await;
    assert!(response.batch_item_failures.is_empty());
    let sizes: Vec<usize> = requests.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 2], "two requests for twelve messages, in stream order");
    assert_eq!(requests.batches.lock().unwrap().concat(), (0..12).map(|i| format!("m{i:02}")).collect::<Vec<_>>());

    // A failing request (m10 and m11 together, m11 failing): its records are tried one
    // at a time, and the record whose message failed is the one retried from; the one
    // before it in the same request is done, not blamed.
    let requests = std::sync::Arc::new(Requests { batches: Mutex::new(Vec::new()), fail_id: "m11" });
    let deps = Deps { publisher: requests.clone(), ..w.deps.clone() };
    let response = handle(&deps, event(&w)).await;
    let failed: Vec<_> = response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect();
    let twelfth = w.store.changes_after(0, 100)[11].sequence;
    assert_eq!(failed, [format!("{twelfth:021}")]);
    let batches = requests.batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 2, "the first ten, then m10 on its own: {batches:?}");
    assert_eq!(batches[1], ["m10"]);
}
