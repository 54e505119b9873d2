//! What guards the money and the product: only a paid, dispatched order is refunded
//! (checked again when a reviewer approves), no read or message hands out the product's
//! access key, and refund ids cannot be derived from request ids.

use serde_json::{json, Value};

use super::{album, id_of, membership, place, refund_request, review};
use crate::scenario;
use crate::support::{audit_failed, Harness};

/// A membership bought for 200,000.00: a new customer's order that large must pay a
/// prepayment before it is dispatched.
fn large_membership(h: &Harness, id: &str) -> Value {
    let mut order = membership(h, id, 0);
    order["items"][0] = json!({"sku": "VIP-12M", "quantity": 1, "unit_price": "200000.00"});
    order["payment"]["splits"] = json!([{"channel": "BANK_CARD", "amount": "200000.00"}]);
    order
}

/// Asks for a refund that must be refused with `409` naming the order's state, and
/// checks that nothing was stored (the same request is refused again, not replayed) or
/// published.
async fn refused(h: &Harness, request: &str, order: &str, state: &str) {
    let before = h.kinds("order-events").await;
    for _ in 0..2 {
        let (status, err) = h.post("/refunds", &refund_request(request, order, "MEMBERSHIP")).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "{err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("order {order}")) && message.contains(state), "{message}");
    }
    assert_eq!(h.kinds("order-events").await, before, "nothing published");
}

scenario!(refund_of_an_order_rejected_by_the_risk_check_is_refused, |h: Harness| async move {
    let mut order = membership(&h, "d-20", 0);
    order["customer_id"] = json!("c-blocked");
    order["items"][0]["unit_price"] = json!("119.00");
    order["items"][0]["fee"] = json!("0.00");
    order["payment"]["splits"] = json!([{"channel": "PLATFORM_ACCOUNT", "amount": "105.00"}]);
    let (status, body) = h.post("/orders", &order).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("REJECTED")), "{body}");
    refused(&h, "r-20", "d-20", "is REJECTED: only a paid, dispatched order can be refunded").await;
});

scenario!(
    refund_of_an_order_awaiting_its_prepayment_is_refused_and_still_after_it_is_cancelled,
    |h: Harness| async move {
        let (status, body) = h.post("/orders", &large_membership(&h, "d-21")).await;
        assert_eq!((status, body["status"].as_str()), (201, Some("AWAITING_PREPAYMENT")), "{body}");
        refused(&h, "r-21", "d-21", "is AWAITING_PREPAYMENT").await;
        h.advance(2 * 86_400).await;
        assert_eq!(h.order("d-21").await["status"], "CANCELLED");
        refused(&h, "r-21", "d-21", "is CANCELLED").await;
        refused(&h, "r-21b", "d-21", "is CANCELLED").await;
    }
);

scenario!(an_order_dispatched_once_its_prepayment_is_paid_can_be_refunded, |h: Harness| async move {
    let (_, body) = h.post("/orders", &large_membership(&h, "d-22")).await;
    let due = &body["prepayment"];
    let pay = json!({"payment_ref": "p-22", "amount": due["amount"], "currency": due["currency"]});
    let (status, paid) = h.post("/orders/d-22/prepayment", &pay).await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("DISPATCHED")), "{paid}");
    let (status, refund) = h.post("/refunds", &refund_request("r-22", "d-22", "MEMBERSHIP")).await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("PENDING_REVIEW")), "{refund}");
    assert_eq!(refund["amount"], "200000.00", "never more than the order took");
});

scenario!(an_order_rejected_by_its_audit_is_not_refunded_even_when_a_reviewer_approves, |h: Harness| async move {
    place(&h, &album(&h, "d-23")).await;
    let (status, pending) = h.post("/refunds", &refund_request("r-23", "d-23", "ALBUM")).await;
    assert_eq!(
        (status, pending["status"].as_str(), pending["amount"].as_str()),
        (201, Some("PENDING_REVIEW"), Some("37.80"))
    );
    h.audit_result("audit.failed", audit_failed("aud-23", "d-23", "PRICE_MISMATCH", h.now())).await;
    assert_eq!(h.order("d-23").await["audit_status"], "REJECTED");

    let id = id_of(&pending);
    let (status, rejected) = h.post(&format!("/refunds/{id}/review"), &review("dec-23", "APPROVE", "seller")).await;
    assert_eq!((status, rejected["status"].as_str()), (200, Some("REJECTED")), "{rejected}");
    assert_eq!(rejected["reasons"], json!(["ORDER_AUDIT_REJECTED"]));
    for money in ["amount", "currency", "breakdown", "channel", "code", "entitlement"] {
        assert!(rejected.get(money).is_none(), "a rejected refund pays nothing: {rejected}");
    }
    assert_eq!(rejected["quoted"]["amount"], "37.80", "the quote the reviewer saw, under its own name");
    assert_eq!(h.get(&format!("/refunds/{id}")).await, (200, rejected));
    assert_eq!(h.about("order-events", "refund.rejected", &id).await.len(), 1);
    assert!(h.about("order-events", "refund.issued", &id).await.is_empty());
    assert!(h.about("order-events", "entitlement.updated", "d-23").await.is_empty());

    let (status, err) = h.post("/refunds", &refund_request("r-23b", "d-23", "ALBUM")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "{err}");
    assert!(err["error"]["message"].as_str().is_some_and(|m| m.contains("audit_status is REJECTED")), "{err}");
});

scenario!(no_refund_read_or_message_carries_the_entitlement_key, |h: Harness| async move {
    const KEY: &str = "LIVE-KEY-5f2c9a";
    let mut order = album(&h, "d-25");
    order["product"]["entitlement"] = json!({"key": KEY, "user_flags": ["VIP"]});
    place(&h, &order).await;
    let mut order = membership(&h, "d-26", 120);
    order["product"]["entitlement"]["key"] = json!(KEY);
    place(&h, &order).await;

    let (_, issued) = h.post("/refunds", &refund_request("r-26", "d-26", "MEMBERSHIP")).await;
    assert_eq!(issued["status"], "APPROVED", "{issued}");
    assert_eq!(issued["facts"]["entitlement"]["key_status"], "ACTIVE");
    assert_eq!(issued["entitlement"]["key_status"], "NONE", "the membership's key is revoked");
    let (_, pending) = h.post("/refunds", &refund_request("r-25", "d-25", "ALBUM")).await;
    let id = id_of(&pending);
    let (_, approved) = h.post(&format!("/refunds/{id}/review"), &review("dec-25", "APPROVE", "seller")).await;
    assert_eq!(approved["entitlement"]["key_status"], "ACTIVE", "the album keeps its key: {approved}");

    let reads = [
        h.get(&format!("/refunds/{}", id_of(&issued))).await.1,
        h.get(&format!("/refunds/{id}")).await.1,
        h.post("/refunds", &refund_request("r-26", "d-26", "MEMBERSHIP")).await.1,
        h.post("/refunds", &refund_request("r-25", "d-25", "ALBUM")).await.1,
    ];
    for answer in [&issued, &pending, &approved].into_iter().chain(&reads) {
        assert!(!answer.to_string().contains(KEY), "a read shows the key: {answer}");
    }
    let messages = h.published("order-events").await;
    let about_refunds: Vec<_> = messages
        .iter()
        .filter(|m| m.attributes["type"].starts_with("refund.") || m.attributes["type"] == "entitlement.updated")
        .collect();
    assert_eq!(about_refunds.len(), 5, "issued + entitlement twice, and a review request");
    for m in &messages {
        assert!(!m.message.to_string().contains(KEY), "a message carries the key: {}", m.message);
    }
    let revoked: Vec<Value> = h
        .about("order-events", "entitlement.updated", "d-26")
        .await
        .iter()
        .map(|m| m.message["data"]["key_revoked"].clone())
        .collect();
    assert_eq!(revoked, [json!(true)]);
});

scenario!(refund_ids_are_not_derived_from_request_ids_and_a_retry_answers_the_same_id, |h: Harness| async move {
    place(&h, &membership(&h, "d-27", 120)).await;
    place(&h, &album(&h, "d-28")).await;
    let (status, first) = h.post("/refunds", &refund_request("req-27", "d-27", "MEMBERSHIP")).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = h.post("/refunds", &refund_request("req-28", "d-28", "ALBUM")).await;
    assert_eq!(status, 201, "{second}");
    let (a, b) = (id_of(&first), id_of(&second));
    assert_ne!(a, b);
    for (id, request) in [(&a, "req-27"), (&b, "req-28")] {
        assert!(id.starts_with("rf-") && !id.contains(request), "{id}");
        assert!(id.len() >= 3 + 32, "random, not a counter: {id}");
    }
    let (status, again) = h.post("/refunds", &refund_request("req-27", "d-27", "MEMBERSHIP")).await;
    assert_eq!((status, id_of(&again)), (200, a.clone()));
    assert_eq!(again, first);
    let (status, _) = h.post("/refunds", &refund_request("req-27", "d-28", "ALBUM")).await;
    assert_eq!(status, 409, "the same request id with another body");
    assert_eq!(h.get("/refunds/rf-req-27").await.0, 404, "the old derived id leads nowhere");
    assert_eq!(h.get(&format!("/refunds/{a}")).await.1["request_id"], "req-27");
});
