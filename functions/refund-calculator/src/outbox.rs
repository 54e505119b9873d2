//! The messages each refund transition publishes, all to `order-events`. Ids derive
//! from the refund and the cause of the transition (the request, or a review
//! decision), so a re-sent outbox carries the same ids. They are built from this
//! crate's [`Refund`], so they stay here rather than in `orderflow_shared::messages`.

use chrono::{DateTime, Utc};
use orderflow_shared::domain::refund_policy::entitlement_view;
use orderflow_shared::messages::EventBuilder;
use orderflow_shared::ports::OutboundMessage;
use orderflow_shared::topology::ORDER_EVENTS;
use serde_json::{json, Value};

use crate::store::Refund;

const SOURCE: &str = "orderflow/refund-calculator";

/// `<refund_id>:<type>:<cause>` about the refund, or `<order_id>:<type>:<refund_id>:<cause>`
/// about the order: ids start with their subject.
fn event(refund: &Refund, at: DateTime<Utc>, cause: &str, kind: &str, subject: &str, data: Value) -> OutboundMessage {
    let builder = EventBuilder { topic: ORDER_EVENTS, source: SOURCE, time: at, trace: None };
    let id = if subject == refund.refund_id {
        format!("{subject}:{kind}:{cause}")
    } else {
        format!("{subject}:{kind}:{}:{cause}", refund.refund_id)
    };
    builder.event(id, kind, subject, data)
}

fn base(refund: &Refund) -> Value {
    json!({
        "refund_id": refund.refund_id,
        "request_id": refund.request_id,
        "order_id": refund.order_id,
        "customer_id": refund.customer_id,
        "scenario": refund.scenario,
    })
}

/// `refund.rejected`: the failed conditions, or the reviewer's refusal.
pub fn rejected(refund: &Refund, at: DateTime<Utc>, cause: &str) -> Vec<OutboundMessage> {
    let mut data = base(refund);
    data["status"] = json!("REJECTED");
    data["reasons"] = json!(refund.reasons);
    vec![event(refund, at, cause, "refund.rejected", &refund.refund_id, data)]
}

/// `refund.review_requested`, with the `reviewer_role` attribute reviewers filter on.
pub fn review_requested(refund: &Refund, at: DateTime<Utc>, cause: &str) -> Vec<OutboundMessage> {
    let role = refund.reviewer_role.map(|r| r.as_str()).unwrap_or("platform");
    let mut data = base(refund);
    data["reviewer_role"] = json!(role);
    data["reasons"] = json!(refund.reasons);
    if let Some(q) = &refund.quote {
        data["amount"] = json!(q.amount);
        data["currency"] = json!(q.currency);
        data["breakdown"] = json!(q.breakdown);
    }
    vec![event(refund, at, cause, "refund.review_requested", &refund.refund_id, data)
        .with_attribute("reviewer_role", role)]
}

/// `refund.issued` with the channel split, and `entitlement.updated` for the order:
/// the entitlement as [`entitlement_view`] shows it (never the key itself) and whether
/// this refund revoked the key that was in force.
pub fn issued(refund: &Refund, at: DateTime<Utc>, cause: &str, key_revoked: bool) -> Vec<OutboundMessage> {
    let mut data = base(refund);
    data["code"] = json!(refund.code);
    if let Some(q) = &refund.quote {
        data["amount"] = json!(q.amount);
        data["currency"] = json!(q.currency);
        data["channels"] = json!(q.channels);
        data["breakdown"] = json!(q.breakdown);
    }
    let mut entitlement = base(refund);
    if let Some(e) = &refund.entitlement {
        entitlement["entitlement"] = entitlement_view(e);
    }
    entitlement["key_revoked"] = json!(key_revoked);
    vec![
        event(refund, at, cause, "refund.issued", &refund.refund_id, data),
        event(refund, at, cause, "entitlement.updated", refund.order_id.as_str(), entitlement),
    ]
}
