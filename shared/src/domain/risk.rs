//! Risk scoring (DOMAIN §2 steps 2–3): pure functions from the facts of an order and the
//! risk rules to a level and a decision.
#![deny(clippy::float_arithmetic)]

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::{Currency, Money};
use super::policy::risk::{Condition, Effect, RiskRules};
use super::{earlier, later};

/// Risk levels, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Block,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 4] = [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High, RiskLevel::Block];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "LOW",
            RiskLevel::Medium => "MEDIUM",
            RiskLevel::High => "HIGH",
            RiskLevel::Block => "BLOCK",
        }
    }
}

/// What the rules need to know about an order and its customer.
#[derive(Debug, Clone)]
pub struct RiskFacts<'a> {
    pub total: Money,
    pub customer_id: &'a str,
    pub shipping_country: Option<&'a str>,
    pub billing_country: Option<&'a str>,
    pub shipping_address: Option<&'a str>,
    pub payment_method: &'a str,
    /// Whether the customer has placed any order before this one.
    pub has_history: bool,
    /// Creation times of the customer's earlier orders within the longest velocity
    /// window of the rules.
    pub recent_orders: &'a [DateTime<Utc>],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub level: RiskLevel,
    pub score: u32,
    pub matched_rules: Vec<String>,
}

/// What to do with the order once assessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskDecision {
    Dispatch,
    RequirePrepayment { amount: Money, due_at: DateTime<Utc> },
    Reject,
}

/// Scores the facts: matched rules add their score or force a level; the level is the
/// highest of the score's band and every forced level, so a further matched rule can
/// never lower it.
pub fn assess(rules: &RiskRules, facts: &RiskFacts<'_>, now: DateTime<Utc>) -> RiskAssessment {
    let mut score: u32 = 0;
    let mut forced = RiskLevel::Low;
    let mut matched_rules = Vec::new();
    for rule in rules.rules.iter().filter(|r| matches(&r.when, facts, now)) {
        match rule.effect() {
            Effect::Score(points) => score = score.saturating_add(points),
            Effect::Force(level) => forced = forced.max(level),
        }
        matched_rules.push(rule.id.clone());
    }
    let level = rules.band_of(score).max(forced);
    RiskAssessment { level, score, matched_rules }
}

/// Turns a level into a decision: `BLOCK` is rejected, levels above the preset
/// threshold pay their share up front, the rest is dispatched.
pub fn decide(rules: &RiskRules, level: RiskLevel, total: Money, now: DateTime<Utc>) -> RiskDecision {
    if level == RiskLevel::Block {
        return RiskDecision::Reject;
    }
    if level <= rules.prepayment_above {
        return RiskDecision::Dispatch;
    }
    let share = rules.prepayment_share.get(&level).copied().unwrap_or(Decimal::ONE);
    // The rules hold every share in (0, 1], so the share of a total never exceeds it;
    // should the product not be representable, the whole total is asked for.
    let amount =
        total.currency.round_half_up(total.amount.checked_mul(share).unwrap_or(total.amount).min(total.amount));
    let due_at = later(now, Duration::minutes(i64::from(rules.prepayment_due_minutes)));
    RiskDecision::RequirePrepayment { amount: Money::new(amount, total.currency), due_at }
}

fn matches(condition: &Condition, facts: &RiskFacts<'_>, now: DateTime<Utc>) -> bool {
    match condition {
        Condition::AmountOver { amount, currency } => {
            currency.is_none_or(|c: Currency| c == facts.total.currency) && facts.total.amount > *amount
        }
        Condition::Velocity { max_orders, window_minutes } => {
            let since = earlier(now, Duration::minutes(i64::from(*window_minutes)));
            let in_window = facts.recent_orders.iter().filter(|t| **t > since && **t <= now).count();
            // This order counts too: more than `max_orders` including it trips the rule.
            in_window >= usize::try_from(*max_orders).unwrap_or(usize::MAX)
        }
        Condition::NewCustomer {} => !facts.has_history,
        Condition::CustomerBlocklist { customers } => customers.iter().any(|c| c == facts.customer_id),
        Condition::AddressBlocklist { addresses } => facts
            .shipping_address
            .map(normalize_address)
            .is_some_and(|a| addresses.iter().any(|b| normalize_address(b) == a)),
        Condition::CountryMismatch {} => matches!(
            (facts.shipping_country, facts.billing_country),
            (Some(s), Some(b)) if !s.eq_ignore_ascii_case(b)
        ),
        Condition::PaymentMethod { methods } => methods.iter().any(|m| m == facts.payment_method),
    }
}

/// Case and spacing differences must not slip an address past the blocklist.
fn normalize_address(address: &str) -> String {
    address.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
#[path = "risk_tests.rs"]
mod tests;
