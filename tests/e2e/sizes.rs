//! The body limit end to end: the largest body the API accepts is stored, published and
//! readable on both backends, one byte more is refused before anything happens, and a
//! retry of a large order changes nothing. The limit is derived in `docs/storage.md`.

use std::sync::{Arc, Mutex};

use orderflow_shared::adapters::embedded::Faults;
use orderflow_shared::input::MAX_BODY_BYTES;
use orderflow_shared::ports::{message_size, Write, MAX_ITEM_BYTES, MAX_MESSAGE_BYTES};
use orderflow_shared::topology::TOPOLOGY;
use orderflow_shared::StoreError;
use serde_json::{json, Value};

use crate::scenario;
use crate::support::Harness;

/// The shortest line item the API accepts, stored longest: `1e6` is read as a quantity
/// of 1000000, and each of the item's four amounts is stored as `0.000` in BHD.
const SHORTEST_ITEM: &str = r#"{"sku":"a","quantity":1e6,"unit_price":"0"}"#;

/// An order body of exactly `size` bytes that is stored at the most bytes per body byte:
/// as many of the shortest items as fit, in a currency with three decimals, with a
/// contact whose name and email need JSON escapes (quote, backslash, control characters,
/// non-ASCII), padded to the byte with the shipping address. Returns the body and its
/// number of items.
fn largest_order(id: &str, size: usize) -> (String, usize) {
    let mut order = json!({
        "order_id": id, "customer_id": format!("c-{id}"), "business_type": "retail", "currency": "BHD",
        "items": "ITEMS", "payment": {"method": "BANK_CARD"},
        "contact": {"name": "\"Q\" \\ \u{1}\u{1f}\u{7f} é 张", "email": "q\"\\@example.com"},
        "shipping_address": "x",
    });
    // n items take n item texts and n - 1 commas, in place of `"ITEMS"`.
    let per_item = SHORTEST_ITEM.len() + 1;
    let count = (size - order.to_string().len() + "\"ITEMS\"".len() - 2 + 1) / per_item;
    let items = format!("[{}]", vec![SHORTEST_ITEM; count].join(","));
    let text = |order: &Value| order.to_string().replace("\"ITEMS\"", &items);
    let pad = size - text(&order).len();
    order["shipping_address"] = json!("x".repeat(1 + pad));
    let body = text(&order);
    assert_eq!(body.len(), size);
    (body, count)
}

fn item_count(order: &Value) -> Option<usize> {
    order["items"].as_array().map(Vec::len)
}

scenario!(the_largest_body_is_stored_published_and_readable_and_a_retry_changes_nothing, |h: Harness| async move {
    let (body, count) = largest_order("big-1", MAX_BODY_BYTES);
    let (status, created) = h.send("POST", "/orders", body.as_bytes()).await;
    assert_eq!((status, created["status"].as_str()), (201, Some("DISPATCHED")), "{created}");

    let order = h.order("big-1").await;
    assert_eq!(item_count(&order), Some(count));
    assert_eq!((&order["items"][0]["quantity"], &order["items"][0]["discount"]), (&json!(1_000_000), &json!("0.000")));
    let dispatched = h.about("order-events", "order.dispatched", "big-1").await;
    assert_eq!(dispatched.len(), 1);
    assert_eq!(item_count(&dispatched[0].message["data"]), Some(count));
    assert_eq!(h.about("audit-requests", "audit.requested", "big-1").await.len(), 1);

    // The same body again (the stored request equals it, escapes and all) answers the
    // first result, and nothing is published again.
    let (status, again) = h.send("POST", "/orders", body.as_bytes()).await;
    assert_eq!((status, &again), (200, &created));
    assert_eq!(h.kinds("order-events").await, ["order.dispatched"]);
    assert_eq!(h.kinds("audit-requests").await, ["audit.requested"]);

    // The dispatcher received the big message and started fulfilment.
    h.settle().await;
    assert_eq!(h.order("big-1").await["fulfilment"]["status"], "IN_PROGRESS");
});

scenario!(one_byte_over_the_limit_is_413_and_nothing_is_stored_or_published, |h: Harness| async move {
    let (body, _) = largest_order("big-2", MAX_BODY_BYTES + 1);
    let (status, err) = h.send("POST", "/orders", body.as_bytes()).await;
    assert_eq!(status, 413, "{err}");
    let expected = json!({"error": {"code": "validation_failed", "field": "body",
        "message": format!("larger than the {MAX_BODY_BYTES} byte limit")}});
    assert_eq!(err, expected);
    assert_eq!(h.get("/orders/big-2").await.0, 404);
    h.settle().await;
    for topic in TOPOLOGY.topics {
        assert!(h.published(topic.name).await.is_empty(), "{}", topic.name);
    }
});

/// Records the size of every item written, by DynamoDB's rules, as it would be if its
/// outbox did not deflate at all: the bound that holds whatever the messages carry.
#[derive(Default)]
struct ItemSizes(Mutex<Vec<usize>>);

impl Faults for ItemSizes {
    fn before_write(&self, write: &Write) -> Result<(), StoreError> {
        if let Write::Put { item, .. } = write {
            let deflated = item.outbox_bytes().map_or(0, |b| b.len());
            let messages = item.outbox().unwrap_or_default();
            let raw = serde_json::to_vec(messages).map_or(0, |j| if messages.is_empty() { 0 } else { j.len() });
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(item.stored_size(1) - deflated + raw);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_order_keeps_its_items_and_messages_well_inside_the_limits() {
    let sizes = Arc::new(ItemSizes::default());
    let h = Harness::embedded_with(sizes.clone()).await;
    let (body, _) = largest_order("big-3", MAX_BODY_BYTES);
    let (status, body) = h.send("POST", "/orders", body.as_bytes()).await;
    assert_eq!(status, 201, "{body}");
    h.settle().await;

    // The order as created, with its outbox, is the largest item; even were its outbox
    // not to deflate at all, it leaves at least 64 KiB of the item limit for what the
    // order gathers later.
    let written = sizes.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let largest = written.iter().copied().max().unwrap_or(0);
    assert!(largest <= MAX_ITEM_BYTES - 64 * 1024, "an item of {largest} bytes leaves too little room to grow");
    assert!(largest >= MAX_BODY_BYTES * 49 / 10, "{largest}: is this still the worst case?");

    let mut messages = 0;
    for topic in TOPOLOGY.topics {
        for m in h.published(topic.name).await {
            let size = message_size(&m.message.to_string(), &m.attributes);
            assert!(size <= MAX_MESSAGE_BYTES * 6 / 10, "{}: a message of {size} bytes", topic.name);
            messages += 1;
        }
    }
    assert!(messages >= 3, "order.dispatched, audit.requested and the fulfilment triggers");
}
