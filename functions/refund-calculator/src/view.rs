//! The refund as `GET /refunds/{refund_id}` and every answer shows it. Never a secret:
//! the entitlement shows whether a key is in force, not the key. A `REJECTED` refund
//! pays nothing, so it has no `amount`: the quote a reviewer saw, if any, is under
//! `quoted`.

use orderflow_shared::domain::ids::RefundId;
use orderflow_shared::domain::refund::Quote;
use orderflow_shared::domain::refund_policy::entitlement_view;
use orderflow_shared::error::Result;
use serde_json::{json, Value};

use crate::store::{Refund, RefundStatus};

/// Refund ids are identifiers: a path that cannot be one is refused before any read.
pub fn check_refund_id(refund_id: &str) -> Result<()> {
    RefundId::parse("refund_id", refund_id).map(|_| ())
}

fn quote_view(q: &Quote) -> Value {
    json!({"amount": q.amount, "currency": q.currency, "breakdown": q.breakdown, "channel": q.channels})
}

/// The refund as the API shows it.
pub fn view(refund: &Refund) -> Value {
    let mut body = json!({
        "refund_id": refund.refund_id,
        "request_id": refund.request_id,
        "order_id": refund.order_id,
        "scenario": refund.scenario,
        "status": refund.status,
        "requested_at": refund.requested_at,
        "facts": refund.facts,
    });
    if !refund.reasons.is_empty() {
        body["reasons"] = json!(refund.reasons);
    }
    if let Some(role) = refund.reviewer_role {
        body["reviewer_role"] = json!(role.as_str());
    }
    match (&refund.quote, refund.status) {
        (Some(q), RefundStatus::Rejected) => body["quoted"] = quote_view(q),
        (Some(q), _) => {
            if let (Value::Object(body), Value::Object(quote)) = (&mut body, quote_view(q)) {
                body.extend(quote);
            }
        }
        (None, _) => {}
    }
    if let Some(code) = &refund.code {
        body["code"] = json!(code);
    }
    if let Some(decision) = &refund.decision {
        body["decision"] = json!(decision);
    }
    if let Some(entitlement) = &refund.entitlement {
        body["entitlement"] = entitlement_view(entitlement);
    }
    scrub(body)
}

/// `answer` without any entitlement key: answers stored before keys were hidden (a
/// refund's first result, its facts) carry one.
pub fn scrub(mut answer: Value) -> Value {
    for path in ["/facts/entitlement", "/entitlement"] {
        if let Some(fields) = answer.pointer_mut(path).and_then(Value::as_object_mut) {
            if let Some(key) = fields.remove("key") {
                let status = if key.is_null() { "NONE" } else { "ACTIVE" };
                fields.entry("key_status").or_insert_with(|| json!(status));
            }
        }
    }
    answer
}
