//! Order events every function that changes an order's status builds alike. Ids derive
//! from the order and the position of the transition in its history, so a re-sent
//! outbox carries the same ids.

use serde_json::{json, Value};

use super::EventBuilder;
use crate::domain::order::Order;
use crate::ports::OutboundMessage;
use crate::topology::ORDER_EVENTS;

/// The cause under which an overdue prepayment's cancellation is kept.
pub const PREPAYMENT_OVERDUE: &str = "prepayment-overdue";

/// An event about `order` on `order-events`, with its `business_type` attribute.
pub fn order_event(source: &str, order: &Order, kind: &str, data: Value) -> OutboundMessage {
    let builder = EventBuilder { topic: ORDER_EVENTS, source, time: order.updated_at, trace: order.trace.as_deref() };
    let id = format!("{}:{kind}:{}", order.id(), order.history.len());
    builder.event(id, kind, order.id().as_str(), data).with_attribute("business_type", &order.request.business_type)
}

/// `order.rejected`: blocked by the risk rules, or cancelled for an overdue prepayment.
pub fn rejected(source: &str, order: &Order, reason: &str) -> Vec<OutboundMessage> {
    let data = json!({
        "order_id": order.id(),
        "customer_id": order.request.customer_id,
        "status": order.status,
        "reason": reason,
        "matched_rules": order.risk.matched_rules,
    });
    vec![order_event(source, order, "order.rejected", data)]
}
