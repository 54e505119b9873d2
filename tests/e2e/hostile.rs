//! Hostile input: amounts past every bound, times far from the clock, malformed ids and
//! keys, and a due index full of entries no tick can act on. Each is refused naming the
//! field (or fails its record alone), stores and publishes nothing, and never stops the
//! schedule.

use chrono::Duration;
use orderflow_shared::domain::audit::shard_of;
use orderflow_shared::ports::{Condition, Index, Item, Key, Write};
use orderflow_shared::store::{due_index_pk, DUE_SHARDS};
use orderflow_shared::topology::ORDER_EVENTS;
use serde_json::{json, Value};

use crate::scenario;
use crate::support::{audit_failed, retail_order, Harness};

/// Posts `body` to `path` and expects a refusal with `status` naming `field`; the refused
/// request leaves no order and no message behind.
async fn refused(h: &Harness, path: &str, body: &Value, status: u16, field: &str) -> String {
    let before = h.published(ORDER_EVENTS).await.len();
    let (got, answer) = h.post(path, body).await;
    assert_eq!((got, answer["error"]["field"].as_str()), (status, Some(field)), "{answer}");
    assert!(answer["error"]["code"].is_string(), "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.len() < 400, "an error quotes no huge value: {message}");
    if let Some(id) = body["order_id"].as_str().filter(|_| path == "/orders") {
        // 404, or 422 for an id no order can have.
        let (status, _) = h.get(&format!("/orders/{id}")).await;
        assert!(status == 404 || status == 422, "nothing stored for {id}: {status}");
    }
    assert_eq!(h.published(ORDER_EVENTS).await.len(), before, "nothing published");
    message
}

fn with_items(id: &str, items: Value) -> Value {
    let mut order = retail_order(id, "c-hostile", "1.00");
    order["items"] = items;
    order
}

scenario!(amounts_past_the_bound_are_refused_naming_the_field, |h: Harness| async move {
    let huge =
        with_items("m-1", json!([{"sku": "A-1", "quantity": 4294967295u32, "unit_price": "99999999999999999999.99"}]));
    refused(&h, "/orders", &huge, 422, "items[0].quantity").await;
    let price = with_items("m-2", json!([{"sku": "A-1", "quantity": 1, "unit_price": "1000000000000.01"}]));
    let message = refused(&h, "/orders", &price, 422, "items[0].unit_price").await;
    assert_eq!(message, "must be at most 1000000000000");
    // Each amount within the bound, their product or sum not.
    let product = with_items("m-3", json!([{"sku": "A-1", "quantity": 1000000, "unit_price": "1000000000000.00"}]));
    refused(&h, "/orders", &product, 422, "items[0].unit_price").await;
    let item = json!({"sku": "A-1", "quantity": 1, "unit_price": "600000000000.00"});
    refused(&h, "/orders", &with_items("m-4", json!([item.clone(), item])), 422, "items[1]").await;
    let taxed =
        with_items("m-5", json!([{"sku": "A-1", "quantity": 1, "unit_price": "1000000000000.00", "tax": "1.00"}]));
    refused(&h, "/orders", &taxed, 422, "items[0].unit_price").await;
    let mut jpy =
        with_items("m-6", json!([{"sku": "A-1", "quantity": 1, "unit_price": "79228162514264337593543950335"}]));
    jpy["currency"] = json!("JPY");
    refused(&h, "/orders", &jpy, 422, "items[0].unit_price").await;
    let mut splits = retail_order("m-7", "c-hostile", "10.00");
    splits["payment"]["splits"] = json!([
        {"channel": "BANK_CARD", "amount": "1000000000000.00"}, {"channel": "WEALTH", "amount": "1000000000000.00"}
    ]);
    refused(&h, "/orders", &splits, 422, "payment.splits").await;
    // The largest accepted order is scored and asks for its prepayment share exactly.
    let (status, body) = h.post("/orders", &retail_order("m-8", "c-hostile", "1000000000000.00")).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("AWAITING_PREPAYMENT")), "{body}");
    assert_eq!(body["prepayment"]["amount"], "300000000000.00");
});

scenario!(negative_and_negative_zero_amounts_are_refused, |h: Harness| async move {
    for (i, price) in ["-0.00", "-1.00", "-0"].into_iter().enumerate() {
        let order = retail_order(&format!("n-{i}"), "c-hostile", price);
        let message = refused(&h, "/orders", &order, 422, "items[0].unit_price").await;
        assert_eq!(message, "must not be negative");
    }
    let (status, body) = h.post("/orders", &retail_order("n-9", "c-hostile", "200000.00")).await;
    assert_eq!(status, 201, "{body}");
    let pay = json!({"payment_ref": "p-1", "amount": "-60000.00", "currency": "CNY"});
    let message = refused(&h, "/orders/n-9/prepayment", &pay, 422, "amount").await;
    assert!(!message.contains("60000"), "a negative payment is not told the amount due: {message}");
    assert_eq!(h.order("n-9").await["status"], "AWAITING_PREPAYMENT");
});

scenario!(quantities_outside_their_range_say_the_range, |h: Harness| async move {
    for (i, quantity) in [json!(0), json!(1000001), json!(-1), json!(1.5)].into_iter().enumerate() {
        let order = with_items(&format!("q-{i}"), json!([{"sku": "A-1", "quantity": quantity, "unit_price": "1.00"}]));
        let message = refused(&h, "/orders", &order, 422, "items[0].quantity").await;
        assert!(message.contains("from 1 to 1000000") || message.contains("a whole number"), "{message}");
    }
});

scenario!(dot_ids_are_refused, |h: Harness| async move {
    for id in [".", ".."] {
        refused(&h, "/orders", &retail_order(id, "c-hostile", "1.00"), 422, "order_id").await;
        let mut other = retail_order("dots-1", id, "1.00");
        other["customer_id"] = json!(id);
        refused(&h, "/orders", &other, 422, "customer_id").await;
    }
});

scenario!(duplicate_keys_and_huge_values_are_refused_without_echoing_them, |h: Harness| async move {
    let text = r#"{"order_id": "k-1", "order_id": "k-2", "customer_id": "c", "business_type": "retail",
        "currency": "CNY", "items": [{"sku": "A-1", "quantity": 1, "unit_price": "1.00"}], "payment": {"method": "BANK_CARD"}}"#;
    let (status, body) = h.send("POST", "/orders", text.as_bytes()).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("body")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("duplicate key"), "{body}");
    for id in ["k-1", "k-2"] {
        assert_eq!(h.get(&format!("/orders/{id}")).await.0, 404);
    }
    let long = "9".repeat(10_000);
    let mut order = retail_order("k-3", "c-hostile", &long);
    order["items"][0]["sku"] = json!("x".repeat(10_000));
    refused(&h, "/orders", &order, 422, "items[0].sku").await;
    refused(&h, "/orders", &retail_order("k-4", "c-hostile", &long), 422, "items[0].unit_price").await;
    let mut currency = retail_order("k-5", "c-hostile", "1.00");
    currency["currency"] = json!("Z".repeat(10_000));
    refused(&h, "/orders", &currency, 422, "currency").await;
    let mut named = retail_order("k-6", "c-hostile", "1.00");
    named["contact"] = json!({"name": "名".repeat(201)});
    refused(&h, "/orders", &named, 422, "contact.name").await;
    let mut address = retail_order("k-7", "c-hostile", "1.00");
    address["shipping_address"] = json!("x".repeat(501));
    refused(&h, "/orders", &address, 422, "shipping_address").await;
});

scenario!(times_far_from_the_clock_are_refused_naming_the_field, |h: Harness| async move {
    for (i, paid_at) in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-11-23T10:00:00Z"].into_iter().enumerate()
    {
        let mut order = retail_order(&format!("t-{i}"), "c-hostile", "10.00");
        order["payment"]["paid_at"] = json!(paid_at);
        refused(&h, "/orders", &order, 422, "payment.paid_at").await;
    }
    h.dispatched_order("t-9").await;
    h.settle().await;
    for at in ["9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z"] {
        let report =
            json!({"order_id": "t-9", "system": "payment", "node": "payment", "status": "DONE", "occurred_at": at});
        refused(&h, "/fulfilment/status", &report, 422, "occurred_at").await;
        // An audit result from the future fails alone and ends in the dead-letter queue
        // with its reason; the order is untouched.
        let mut failure = audit_failed(&format!("aud-{}", &at[..4]), "t-9", "STOCK_SHORTAGE", h.now());
        failure["occurred_at"] = json!(at);
        let (status, body) = h.publish_raw("audit.failed", failure).await;
        assert_eq!(status, 202, "{body}");
    }
    h.settle().await;
    let dead = h.dead_letters("audit-results-queue").await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(h.order("t-9").await["audit_status"], "PENDING");
    assert!(h.about(ORDER_EVENTS, "order.audit.provisionally_accepted", "t-9").await.is_empty());
});

/// An order id whose due-index shard is `shard`.
fn id_in_shard(prefix: &str, shard: u32) -> String {
    (0..10_000)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| shard_of(id, DUE_SHARDS) == shard)
        .expect("some id lands in every shard")
}

scenario!(a_shard_full_of_entries_no_tick_can_act_on_still_runs_its_due_orders, |h: Harness| async move {
    let reaudit = "due-a-1";
    let shard = shard_of(reaudit, DUE_SHARDS);
    let prepaid = id_in_shard("due-p", shard);
    h.dispatched_order(reaudit).await;
    h.audit_result("audit.failed", audit_failed("aud-1", reaudit, "STOCK_SHORTAGE", h.now())).await;
    let (status, body) = h.post("/orders", &retail_order(&prepaid, "c-due", "200000.00")).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("AWAITING_PREPAYMENT")), "{body}");
    // 200 entries in the same shard, written as older releases or a bad writer could
    // have: far-future keys (`+10000-…`, which sort before every real time) and far-past
    // keys that are due but whose items are not orders any tick can act on.
    // Half of the due ones are real orders with nothing left to do (a tick skips them),
    // half are not orders at all.
    h.dispatched_order("due-plain").await;
    let store = h.rt.deps.store.clone();
    let plain =
        orderflow_shared::store::order_key(&orderflow_shared::domain::ids::OrderId::parse("id", "due-plain").unwrap());
    let plain = store.get(&plain).await.unwrap().expect("stored order").body;
    for i in 0..200 {
        let (sk, body) = match i % 4 {
            0 => (format!("+10000-01-01T00:00:00.000000Z#ff-{i}"), plain.clone()),
            1 => (format!("0001-01-01T00:00:00.000000Z#fp-{i}"), plain.clone()),
            2 => (format!("1970-01-01T00:00:00.000000Z#fp-{i}"), r#"{"order":"corrupt"}"#.to_string()),
            _ => (format!("-0001-01-01T00:00:00.000000Z#fn-{i}"), plain.clone()),
        };
        let item =
            Item::new(Key::new(format!("JUNK#{i}"), "ORDER"), body).with_index(Index::Gsi2, due_index_pk(shard), sk);
        store.write(Write::Put { item, condition: Condition::Always }).await.expect("junk written");
    }
    let clock = h.rt.manual_clock().expect("manual clock");
    clock.advance(Duration::minutes(10));
    let report = scheduled_retry::tick(&h.rt.deps, &scheduled_retry::Unlimited).await;
    assert_eq!((report.requested, report.skipped, report.errors), (1, 50, 50), "{report:?}");
    assert!(!report.stopped_early, "{report:?}");
    // A day later the retry window has closed and the prepayment is overdue: one tick
    // handles both.
    clock.advance(Duration::hours(25));
    let report = scheduled_retry::tick(&h.rt.deps, &scheduled_retry::Unlimited).await;
    assert_eq!((report.expired, report.cancelled), (1, 1), "{report:?}");
    h.settle().await;
    assert_eq!(h.order(reaudit).await["audit_status"], "REJECTED");
    assert_eq!(h.order(&prepaid).await["status"], "CANCELLED");
});

scenario!(encoded_ids_are_decoded_and_wrong_methods_say_what_is_allowed, |h: Harness| async move {
    let (status, body) = h.post("/orders", &retail_order("o:1", "c-hostile", "10.00")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h.get("/orders/o%3A1").await;
    assert_eq!((status, body["order_id"].as_str()), (200, Some("o:1")), "{body}");
    let (status, body) = h.get("/orders/a%2Fb").await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("order_id")), "{body}");
    for (method, path, allow) in
        [("DELETE", "/orders", "POST"), ("TRACE", "/health", "GET"), ("GET", "/_local/settle", "POST")]
    {
        let reply = orderflow_local::router::handle(&h.rt, method, path, b"").await;
        assert_eq!((reply.status, reply.allow.as_deref()), (405, Some(allow)), "{method} {path}: {}", reply.body);
    }
});
