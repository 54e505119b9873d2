//! DOMAIN §4 steps 2–4 and 8: which orders can be refunded at all, the facts a
//! scenario's extraction template collects, the unsubscribe conditions checked on them,
//! whether a passing refund may be decided automatically, and the entitlement after a
//! refund, as it is stored and as it is shown. Pure.
#![deny(clippy::float_arithmetic, clippy::arithmetic_side_effects)]

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::digital::{Entitlement, ProductKind};
use super::order::{AuditStatus, Order, OrderStatus};
use super::policy::refund::{EntitlementChange, Fact, RefundCondition, Residual, ScenarioRules};
use super::refund::{membership_days, Purchase, Quote};

/// Why no refund may be paid on an order, whatever its scenario's conditions say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRefusal {
    /// The reason code a refund rejected at review carries (`ORDER_<STATUS>`,
    /// `ORDER_AUDIT_REJECTED`).
    pub reason: &'static str,
    /// What a refused request is answered, naming the order's state.
    pub message: String,
}

/// Only a paid, dispatched order can be refunded: `REJECTED` and `CANCELLED` orders never
/// took the money, an `AWAITING_PREPAYMENT` one has not yet (it is `DISPATCHED` once its
/// prepayment is in). An order whose audit finally rejected it (`audit_status`
/// `REJECTED`) is recalled as a whole by that rejection, so it is not refunded a
/// residual value on top. `None` when the order can be refunded.
pub fn order_refusal(order: &Order) -> Option<OrderRefusal> {
    let id = order.id();
    let reason = match order.status {
        OrderStatus::Dispatched => None,
        OrderStatus::AwaitingPrepayment => Some("ORDER_AWAITING_PREPAYMENT"),
        OrderStatus::Rejected => Some("ORDER_REJECTED"),
        OrderStatus::Cancelled => Some("ORDER_CANCELLED"),
    };
    if let Some(reason) = reason {
        let status = order.status.as_str();
        let message = format!("order {id} is {status}: only a paid, dispatched order can be refunded");
        return Some(OrderRefusal { reason, message });
    }
    if order.audit_status == Some(AuditStatus::Rejected) {
        let message = format!(
            "order {id} is DISPATCHED but its audit_status is REJECTED: the final audit rejection recalls the \
             order, so it cannot be refunded"
        );
        return Some(OrderRefusal { reason: "ORDER_AUDIT_REJECTED", message });
    }
    None
}

/// The entitlement as reads and messages show it: whether a key is in force
/// (`key_status` `ACTIVE` or `NONE`), never the key itself, which is a live credential.
pub fn entitlement_view(e: &Entitlement) -> Value {
    json!({
        "key_status": if e.key.is_some() { "ACTIVE" } else { "NONE" },
        "user_flags": e.user_flags,
        "service_content": e.service_content,
        "product_status": e.product_status,
    })
}

/// The facts the template of `scenario` collects, as recorded with the refund. The
/// entitlement is recorded as [`entitlement_view`] shows it: no decision needs the key.
pub fn extract(scenario: &ScenarioRules, p: &Purchase) -> Value {
    let mut facts = Map::new();
    for fact in &scenario.extract {
        let (name, value) = match (fact, &p.product) {
            (Fact::PaidAt, _) => ("paid_at", json!(p.paid_at)),
            (Fact::ServicePeriod, ProductKind::Membership { service_start, service_end }) => {
                ("service_period", json!({"start": service_start, "end": service_end}))
            }
            (Fact::Episodes, ProductKind::Album { total_episodes, released_episodes, consumed_episodes }) => (
                "episodes",
                json!({"total": total_episodes, "released": released_episodes, "consumed": consumed_episodes}),
            ),
            (Fact::Payment, _) => ("payment", json!({"method": p.method, "by_channel": p.paid_by_channel})),
            (Fact::Entitlement, _) => ("entitlement", entitlement_view(&p.entitlement)),
            (Fact::ServicePeriod, _) => ("service_period", Value::Null),
            (Fact::Episodes, _) => ("episodes", Value::Null),
        };
        facts.insert(name.to_string(), value);
    }
    Value::Object(facts)
}

/// The share of the product used up at `now`: days of the term (counted as the
/// residual basis counts them) or episodes consumed. A share that cannot be computed
/// counts as all used, which fails a `max_consumed_share` condition.
pub fn consumed_share(scenario: &ScenarioRules, product: &ProductKind, now: DateTime<Utc>) -> Decimal {
    let (used, total) = match product {
        ProductKind::Membership { service_start, service_end } => {
            let partial = matches!(scenario.residual, Residual::UnusedTime { partial_day_used: true });
            let (total, used) = membership_days(*service_start, *service_end, now, partial);
            (Decimal::from(used), Decimal::from(total))
        }
        ProductKind::Album { total_episodes, consumed_episodes, .. } => {
            (Decimal::from(*consumed_episodes), Decimal::from(*total_episodes))
        }
    };
    used.checked_div(total).unwrap_or(Decimal::ONE)
}

/// The reason code of every failed condition, in the order the rules list them.
pub fn failed_conditions(scenario: &ScenarioRules, p: &Purchase, now: DateTime<Utc>) -> Vec<String> {
    scenario.conditions.iter().filter(|c| !holds(c, scenario, p, now)).map(|c| c.reason().to_string()).collect()
}

fn holds(condition: &RefundCondition, scenario: &ScenarioRules, p: &Purchase, now: DateTime<Utc>) -> bool {
    match condition {
        RefundCondition::Paid {} => p.paid_at.is_some_and(|t| t <= now),
        RefundCondition::WithinDaysOfPurchase { days } => {
            // A window too long to represent cannot be checked, so it fails.
            let window = Duration::try_days(i64::from(*days));
            p.paid_at.zip(window).is_some_and(|(t, window)| now.signed_duration_since(t) <= window)
        }
        RefundCondition::MaxConsumedShare { share } => consumed_share(scenario, &p.product, now) <= *share,
        RefundCondition::EntitlementStatus { statuses } => statuses.contains(&p.entitlement.product_status),
    }
}

/// Why a passing refund needs a reviewer; empty when it may be decided automatically.
pub fn review_reasons(scenario: &ScenarioRules, p: &Purchase, quote: &Quote) -> Vec<String> {
    let review = &scenario.review;
    let mut reasons = Vec::new();
    if quote.amount > review.auto_max_amount {
        reasons.push("AMOUNT_ABOVE_AUTO_LIMIT".to_string());
    }
    for channel in quote.channels.iter().filter(|c| !review.auto_channels.contains(&c.channel)) {
        reasons.push(format!("CHANNEL_{}", channel.channel));
    }
    for flag in p.entitlement.user_flags.iter().filter(|f| review.review_flags.contains(f)) {
        reasons.push(format!("USER_FLAG_{flag}"));
    }
    reasons
}

/// The entitlement after a refund: key revoked, flags and content changed, new status.
pub fn apply(change: &EntitlementChange, before: &Entitlement) -> Entitlement {
    let mut flags: Vec<String> =
        before.user_flags.iter().filter(|f| !change.remove_flags.contains(f)).cloned().collect();
    for flag in &change.add_flags {
        if !flags.contains(flag) {
            flags.push(flag.clone());
        }
    }
    Entitlement {
        key: if change.revoke_key { None } else { before.key.clone() },
        user_flags: flags,
        service_content: change.service_content.clone(),
        product_status: change.product_status.clone(),
    }
}
