//! Stored orders for the domain's unit tests, built from JSON so a test states only what
//! it is about.

use serde_json::{json, Value};

use super::order::Order;

/// An order at 2026-11-22T10:00:00Z with `overrides` (top-level fields) over a paid-by-card
/// retail order `o-1` of 100.00 CNY, dispatched, its audit pending.
pub fn order(overrides: Value) -> Order {
    let at = "2026-11-22T10:00:00Z";
    let mut base = json!({
        "request": {"order_id": "o-1", "customer_id": "c-1", "business_type": "retail", "currency": "CNY",
            "items": [], "shipping_country": null, "billing_country": null, "shipping_address": null,
            "payment": {"method": "BANK_CARD", "paid_at": null}, "product": null},
        "total": {"amount": "100.00", "currency": "CNY"}, "status": "DISPATCHED", "initial_status": "DISPATCHED",
        "audit_status": "PENDING", "risk": {"level": "LOW", "score": 0, "matched_rules": []},
        "prepayment": null, "prepayment_paid": null, "fulfilment": {"status": "NOT_STARTED"},
        "history": [], "created_at": at, "updated_at": at
    });
    if let (Some(base), Value::Object(overrides)) = (base.as_object_mut(), overrides) {
        base.extend(overrides);
    }
    serde_json::from_value(base).expect("a valid test order")
}
