//! DOMAIN §2 end to end: intake, scoring, prepayment, dispatch, on both backends.

use serde_json::{json, Value};

use crate::scenario;
use crate::support::{retail_order, Harness};

scenario!(low_risk_order_is_dispatched_and_sent_for_audit, |h: Harness| async move {
    let (status, body) = h.post("/orders", &retail_order("o-1", "c-1", "10.00")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "DISPATCHED");
    assert_eq!(body["risk"]["level"], "LOW");
    assert_eq!(h.kinds("order-events").await, ["order.dispatched"]);
    let dispatched = &h.published("order-events").await[0];
    assert_eq!(dispatched.attributes["business_type"], "retail");
    assert_eq!(dispatched.message["specversion"], "1.0");
    assert_eq!(dispatched.message["subject"], "o-1");
    let audit = h.published("audit-requests").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].message["data"], json!({"order_id": "o-1", "attempt": 1}));
    let (status, order) = h.get("/orders/o-1").await;
    assert_eq!(status, 200);
    assert_eq!(order["audit_status"], "PENDING");
    // The relayed order.dispatched started fulfilment.
    assert_eq!(order["fulfilment"]["status"], "IN_PROGRESS");
    assert_eq!(order["total"], "10.00");
});

scenario!(high_risk_order_is_dispatched_after_its_prepayment, |h: Harness| async move {
    let (status, body) = h.post("/orders", &retail_order("o-2", "c-2", "200000.00")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "AWAITING_PREPAYMENT");
    assert_eq!(body["risk"]["level"], "HIGH");
    assert_eq!(body["prepayment"]["amount"], "60000.00");
    assert_eq!(body["prepayment"]["currency"], "CNY");
    assert_eq!(body["prepayment"]["due_at"], "2026-11-23T10:00:00Z");
    assert_eq!(h.kinds("order-events").await, ["order.prepayment_requested"]);
    assert!(h.kinds("audit-requests").await.is_empty());

    let pay = json!({"payment_ref": "p-1", "amount": "60000.00", "currency": "CNY"});
    let (status, body) = h.post("/orders/o-2/prepayment", &pay).await;
    assert_eq!((status, body.clone()), (200, json!({"order_id": "o-2", "status": "DISPATCHED"})));
    assert_eq!(h.kinds("order-events").await, ["order.prepayment_requested", "order.dispatched"]);
    assert_eq!(h.kinds("audit-requests").await, ["audit.requested"]);

    // Idempotent on payment_ref: the same payment answers the same; another is refused.
    assert_eq!(h.post("/orders/o-2/prepayment", &pay).await, (200, body));
    let other = json!({"payment_ref": "p-2", "amount": "60000.00", "currency": "CNY"});
    let (status, err) = h.post("/orders/o-2/prepayment", &other).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")));
    let (_, order) = h.get("/orders/o-2").await;
    assert_eq!(order["payment"]["prepayment"]["payment_ref"], "p-1");
    let events: Vec<_> = order["history"].as_array().unwrap().iter().map(|e| e["event"].clone()).collect();
    assert_eq!(events, [json!("PREPAYMENT_REQUESTED"), json!("DISPATCHED")]);
});

scenario!(late_prepayment_is_refused_and_the_order_cancelled, |h: Harness| async move {
    h.post("/orders", &retail_order("o-3", "c-3", "200000.00")).await;
    h.advance(2 * 86_400).await;
    let pay = json!({"payment_ref": "p-1", "amount": "60000.00", "currency": "CNY"});
    let (status, body) = h.post("/orders/o-3/prepayment", &pay).await;
    assert_eq!(status, 409, "{body}");
    let (_, order) = h.get("/orders/o-3").await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(h.kinds("order-events").await, ["order.prepayment_requested", "order.rejected"]);
    // The same order placed again still answers with its first result.
    let (status, again) = h.post("/orders", &retail_order("o-3", "c-3", "200000.00")).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("AWAITING_PREPAYMENT")));
    assert!(h.kinds("audit-requests").await.is_empty());
});

scenario!(an_order_whose_prepayment_never_comes_is_cancelled_when_it_falls_due, |h: Harness| async move {
    let (status, body) = h.post("/orders", &retail_order("o-6", "c-6", "200000.00")).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("AWAITING_PREPAYMENT")));
    h.advance(23 * 3600).await;
    assert_eq!(h.get("/orders/o-6").await.1["status"], "AWAITING_PREPAYMENT");
    h.advance(2 * 3600).await;
    let (_, order) = h.get("/orders/o-6").await;
    assert_eq!(order["status"], "CANCELLED");
    let rejected = h.about("order-events", "order.rejected", "o-6").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].message["data"]["reason"], "PREPAYMENT_OVERDUE");
    // A payment arriving now is refused and sends nothing more.
    let pay = json!({"payment_ref": "p-1", "amount": "60000.00", "currency": "CNY"});
    assert_eq!(h.post("/orders/o-6/prepayment", &pay).await.0, 409);
    assert_eq!(h.about("order-events", "order.rejected", "o-6").await.len(), 1);
});

scenario!(blocklisted_customer_is_rejected, |h: Harness| async move {
    let (status, body) = h.post("/orders", &retail_order("o-4", "c-blocked", "10.00")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "REJECTED");
    assert_eq!(body["risk"]["level"], "BLOCK");
    assert_eq!(h.kinds("order-events").await, ["order.rejected"]);
    assert!(h.kinds("audit-requests").await.is_empty());
});

scenario!(duplicate_post_answers_the_first_result_and_a_changed_body_conflicts, |h: Harness| async move {
    let order = retail_order("o-5", "c-5", "10.00");
    let (status, first) = h.post("/orders", &order).await;
    assert_eq!(status, 201);
    assert_eq!(h.post("/orders", &order).await, (200, first));
    let (status, body) = h.post("/orders", &retail_order("o-5", "c-5", "11.00")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
    // The order itself was placed once.
    let (_, stored) = h.get("/orders/o-5").await;
    assert_eq!(stored["history"].as_array().unwrap().len(), 1);
    assert_eq!(stored["total"], "10.00");
});

scenario!(a_customer_ordering_fast_trips_the_velocity_rule, |h: Harness| async move {
    for i in 0..5 {
        let (status, body) = h.post("/orders", &retail_order(&format!("v-{i}"), "c-fast", "10.00")).await;
        assert_eq!(status, 201);
        assert!(!body["risk"]["matched_rules"].as_array().unwrap().contains(&json!("velocity")), "{body}");
        h.advance(60).await;
    }
    let (_, body) = h.post("/orders", &retail_order("v-5", "c-fast", "10.00")).await;
    assert!(body["risk"]["matched_rules"].as_array().unwrap().contains(&json!("velocity")), "{body}");
    // A returning customer no longer counts as new.
    assert!(!body["risk"]["matched_rules"].as_array().unwrap().contains(&json!("new-customer")), "{body}");
});

/// Each bad body, the field its error must name, and the status.
fn bad_orders() -> Vec<(Value, &'static str, u16)> {
    let good = retail_order("bad-1", "c-9", "10.00");
    let with = |path: &[&str], value: Value| {
        let mut v = good.clone();
        let mut at = &mut v;
        for p in &path[..path.len() - 1] {
            at = if let Ok(i) = p.parse::<usize>() { &mut at[i] } else { &mut at[*p] };
        }
        at[path[path.len() - 1]] = value;
        v
    };
    vec![
        (with(&["currency"], json!("XXX")), "currency", 422),
        (with(&["items", "0", "unit_price"], json!(10.5)), "items[0].unit_price", 422),
        (with(&["items", "0", "unit_price"], json!("10.005")), "items[0].unit_price", 422),
        (with(&["items", "0", "quantity"], json!(0)), "items[0].quantity", 422),
        (with(&["items", "0", "quantity"], json!(-1)), "items[0].quantity", 422),
        (with(&["items", "0", "quantity"], json!("2")), "items[0].quantity", 422),
        (with(&["items"], json!([])), "items", 422),
        (with(&["customer_id"], json!(7)), "customer_id", 422),
        (with(&["business_type"], json!("wholesale")), "business_type", 422),
        (with(&["payment", "method"], json!("CASH")), "payment.method", 422),
        (with(&["order_id"], json!("a b")), "order_id", 422),
        (
            with(&["payment", "splits"], json!([{"channel": "BANK_CARD", "amount": "-5.00"}])),
            "payment.splits[0].amount",
            422,
        ),
        (with(&["payment", "splits"], json!([{"channel": "BANK_CARD", "amount": "5.00"}])), "payment.splits", 422),
    ]
}

scenario!(bad_orders_are_refused_naming_the_field_and_nothing_is_kept, |h: Harness| async move {
    for (body, field, status) in bad_orders() {
        let (got, err) = h.post("/orders", &body).await;
        assert_eq!(got, status, "{field}: {err}");
        assert_eq!(err["error"]["code"], "validation_failed", "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let (status, err) = h.send("POST", "/orders", b"{\"order_id\": ").await;
    assert_eq!((status, err["error"]["field"].as_str()), (400, Some("body")));
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(256 * 1024));
    let (status, err) = h.send("POST", "/orders", huge.as_bytes()).await;
    assert_eq!((status, err["error"]["field"].as_str()), (413, Some("body")));
    assert_eq!(h.get("/orders/bad-1").await.0, 404);
    assert!(h.published("order-events").await.is_empty());
    assert!(h.published("audit-requests").await.is_empty());
});

scenario!(unknown_routes_and_methods_answer_json_errors, |h: Harness| async move {
    let (status, err) = h.get("/nowhere").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, err) = h.send("DELETE", "/orders/o-1", b"").await;
    assert_eq!((status, err["error"]["code"].as_str()), (405, Some("method_not_allowed")));
    let (status, err) = h.get("/orders/missing").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")));
    let pay = json!({"payment_ref": "p-1", "amount": 1, "currency": "CNY"});
    let (status, err) = h.post("/orders/missing/prepayment", &pay).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("amount")));
});
