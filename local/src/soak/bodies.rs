//! The request bodies and messages a soak run sends, as clients and the middle office
//! would send them. A body is built once and sent again unchanged when its request is
//! retried.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::plan::{Placement, Plan, Product, Risk};

/// `POST /orders` for `plan`, placed at `now`.
pub fn order(plan: &Plan, now: DateTime<Utc>) -> Value {
    match plan.placement {
        Placement::Digital(product) => digital(plan, product, now),
        Placement::Retail(risk) => retail(plan, risk),
        Placement::PrepaymentLate | Placement::PrepaymentNever => retail(plan, Risk::HighAmount),
        Placement::Blocked { by_address } => {
            let mut body = retail(plan, Risk::Low);
            if by_address {
                body["shipping_address"] = json!("1 Nowhere Lane, Fraudville");
            } else {
                body["customer_id"] = json!("c-blocked");
            }
            body
        }
    }
}

/// A new customer's order of one item: 100.00 scores LOW, 20,000.00 MEDIUM, 200,000.00
/// HIGH, and 20,000.00 shipped abroad HIGH.
fn retail(plan: &Plan, risk: Risk) -> Value {
    let (price, billing) = match risk {
        Risk::Low => ("100.00", "CN"),
        Risk::Medium => ("20000.00", "CN"),
        Risk::HighAmount => ("200000.00", "CN"),
        Risk::HighMismatch => ("20000.00", "US"),
    };
    json!({
        "order_id": plan.id, "customer_id": format!("c-{}", plan.id), "business_type": "retail", "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": price}],
        "shipping_country": "CN", "billing_country": billing, "payment": {"method": "BANK_CARD"},
        "contact": {"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"}
    })
}

/// The README's worked examples: a 107.00 membership paid by card and coins, or a
/// 63.50 album paid through a third party and coins.
fn digital(plan: &Plan, product: Product, now: DateTime<Utc>) -> Value {
    let (item, product, splits, paid_days_ago) = match product {
        Product::Membership { used_days } => {
            let start = now - Duration::days(used_days);
            (
                json!({"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00", "tax": "6.00", "fee": "1.00"}),
                json!({"kind": "MEMBERSHIP", "service_start": time(start), "service_end": time(start + Duration::days(360)),
                       "entitlement": {"key": "KEY-1", "user_flags": ["VIP"], "service_content": "ALL_CHANNELS"}}),
                json!([{"channel": "BANK_CARD", "amount": "80.00"}, {"channel": "VIRTUAL_COINS", "amount": "27.00"}]),
                used_days,
            )
        }
        Product::Album => (
            json!({"sku": "ALBUM-1", "quantity": 1, "unit_price": "60.00", "tax": "3.00", "fee": "0.50"}),
            json!({"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5}),
            json!([{"channel": "THIRD_PARTY", "amount": "50.00"}, {"channel": "VIRTUAL_COINS", "amount": "13.50"}]),
            3,
        ),
    };
    let method = splits[0]["channel"].clone();
    json!({"order_id": plan.id, "customer_id": format!("c-{}", plan.id), "business_type": "digital",
           "currency": "CNY", "items": [item], "product": product,
           "payment": {"method": method, "paid_at": time(now - Duration::days(paid_days_ago)), "splits": splits}})
}

pub fn prepayment(plan: &Plan, amount: &str) -> Value {
    json!({"payment_ref": format!("p-{}", plan.id), "amount": amount, "currency": "CNY"})
}

/// `POST /_local/topics/audit-results`: an audit result as the middle office publishes
/// it, a CloudEvent whose id is the audit's.
pub fn audit_result(plan: &Plan, audit_id: &str, reason: Option<&str>, now: DateTime<Utc>) -> Value {
    let kind = if reason.is_some() { "audit.failed" } else { "audit.passed" };
    let mut data = json!({"audit_id": audit_id, "order_id": plan.id, "occurred_at": time(now)});
    if let Some(code) = reason {
        data["reason_code"] = json!(code);
        data["reason"] = json!(format!("{code} at the middle office"));
    }
    let event = json!({
        "specversion": "1.0", "id": format!("mo:{}:{audit_id}", plan.id), "source": "orderflow-local/soak",
        "type": kind, "time": time(now), "subject": plan.id, "datacontenttype": "application/json", "data": data,
    });
    json!({"message": event, "attributes": {"type": kind}})
}

pub fn status(plan: &Plan, system: &str, status: &str, now: DateTime<Utc>) -> Value {
    json!({"order_id": plan.id, "system": system, "node": system, "status": status, "occurred_at": time(now)})
}

pub fn refund_request(plan: &Plan, request: usize) -> Value {
    let scenario = match plan.placement {
        Placement::Digital(Product::Album) => "ALBUM",
        _ => "MEMBERSHIP",
    };
    json!({"request_id": format!("r-{}-{request}", plan.id), "order_id": plan.id, "scenario": scenario})
}

pub fn review(plan: &Plan, request: usize, approve: bool) -> Value {
    let decision = if approve { "APPROVE" } else { "REJECT" };
    json!({"decision_id": format!("dec-{}-{request}", plan.id), "decision": decision,
           "reviewer": {"role": "seller", "id": "soak-reviewer"}})
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
