//! The messages of an order's placement, as the risk check sends them: dispatched (with
//! the first audit request), waiting for a prepayment, or rejected. Ids derive from the
//! order and the position of the transition in its history, so a re-sent outbox carries
//! the same ids.

use serde_json::{json, Value};

use super::EventBuilder;
use crate::domain::order::Order;
use crate::ports::OutboundMessage;
use crate::topology::AUDIT_REQUESTS;

const SOURCE: &str = "orderflow/risk-check";

fn order_event(order: &Order, kind: &str, data: Value) -> OutboundMessage {
    super::order::order_event(SOURCE, order, kind, data)
}

/// `order.dispatched` for the order receivers and `audit.requested` (attempt 1) for the
/// middle office.
pub fn dispatched(order: &Order) -> Vec<OutboundMessage> {
    let data = json!({
        "order_id": order.id(),
        "customer_id": order.request.customer_id,
        "business_type": order.request.business_type,
        "total": order.total.amount,
        "currency": order.total.currency,
        "items": order.request.items,
        "risk_level": order.risk.level,
    });
    let audit =
        EventBuilder { topic: AUDIT_REQUESTS, source: SOURCE, time: order.updated_at, trace: order.trace.as_deref() }
            .event(
                format!("{}:audit.requested:1", order.id()),
                "audit.requested",
                order.id().as_str(),
                json!({"order_id": order.id(), "attempt": 1}),
            );
    vec![order_event(order, "order.dispatched", data), audit]
}

pub fn prepayment_requested(order: &Order) -> Vec<OutboundMessage> {
    let data = json!({
        "order_id": order.id(),
        "customer_id": order.request.customer_id,
        "prepayment": order.prepayment,
        "risk_level": order.risk.level,
    });
    vec![order_event(order, "order.prepayment_requested", data)]
}

/// `order.rejected`: blocked by the risk rules.
pub fn rejected(order: &Order, reason: &str) -> Vec<OutboundMessage> {
    super::order::rejected(SOURCE, order, reason)
}
