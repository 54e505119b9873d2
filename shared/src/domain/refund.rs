//! The residual-value refund of a digital purchase (DOMAIN §4 steps 6–7): the amount,
//! line by line, and its split back across the channels that paid. Pure: facts and the
//! time of unsubscription in, decisions out. Intermediate values are exact decimals
//! (28 significant digits); only the final amount is rounded, with the rules' mode.
#![deny(clippy::float_arithmetic)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::digital::{Entitlement, ProductKind};
use super::order::NewOrder;
use super::refund_split::normalized;
pub use super::refund_split::{split, ChannelRefund};
use crate::error::{Error, Result};
use crate::money::Currency;
use crate::rules_refund::{DiscountTreatment, RefundRules, Residual, Rounding, ScenarioRules, TaxTreatment};

const DAY_SECS: i64 = 86_400;

/// What a refund is computed from: a digital order's price, payment and product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub currency: Currency,
    /// Σ quantity × unit price.
    pub price: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    /// The handling fee paid with the order.
    pub fee: Decimal,
    pub method: String,
    pub order_type: String,
    /// What each channel paid; sums to the order total.
    pub paid_by_channel: BTreeMap<String, Decimal>,
    pub paid_at: Option<DateTime<Utc>>,
    pub product: ProductKind,
    pub entitlement: Entitlement,
}

impl Purchase {
    /// The purchase behind a digital order; a physical order has none.
    pub fn of(order: &NewOrder) -> Result<Purchase> {
        let product = order.product.as_ref().ok_or_else(|| {
            Error::Conflict(format!("order {} is not a digital order; only digital goods are refunded", order.order_id))
        })?;
        let sum = |f: fn(&super::order::LineItem) -> Decimal| order.items.iter().map(f).sum::<Decimal>();
        let price = sum(|i| i.unit_price * Decimal::from(i.quantity));
        let total = order.total().amount;
        let mut paid_by_channel = BTreeMap::new();
        for split in &order.payment.splits {
            *paid_by_channel.entry(split.channel.clone()).or_insert(Decimal::ZERO) += split.amount;
        }
        if paid_by_channel.is_empty() {
            paid_by_channel.insert(order.payment.method.clone(), total);
        }
        Ok(Purchase {
            currency: order.currency,
            price,
            discount: sum(|i| i.discount),
            tax: sum(|i| i.tax),
            fee: sum(|i| i.fee),
            method: order.payment.method.clone(),
            order_type: product.order_type.clone(),
            paid_by_channel,
            paid_at: order.payment.paid_at,
            product: product.kind.clone(),
            entitlement: product.entitlement.clone(),
        })
    }

    pub fn paid(&self) -> Decimal {
        self.paid_by_channel.values().copied().sum()
    }
}

/// What has been refunded on an order so far, by original channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refunded {
    pub by_channel: BTreeMap<String, Decimal>,
}

impl Refunded {
    pub fn total(&self) -> Decimal {
        self.by_channel.values().copied().sum()
    }

    /// What each channel can still take back.
    pub fn remaining(&self, purchase: &Purchase) -> BTreeMap<String, Decimal> {
        purchase
            .paid_by_channel
            .iter()
            .map(|(c, paid)| (c.clone(), *paid - self.by_channel.get(c).copied().unwrap_or(Decimal::ZERO)))
            .collect()
    }

    pub fn add(&mut self, channels: &[ChannelRefund]) {
        for c in channels {
            *self.by_channel.entry(c.channel.clone()).or_insert(Decimal::ZERO) += c.amount;
        }
    }
}

/// Unused (or unreleased / unconsumed) share of the purchase: `numerator / denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub numerator: i64,
    pub denominator: i64,
    pub unit: &'static str,
}

impl Share {
    pub fn of(&self, amount: Decimal) -> Decimal {
        amount * Decimal::from(self.numerator) / Decimal::from(self.denominator)
    }
}

/// Whole days of a membership term and those used by `now`.
pub fn membership_days(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>, partial_used: bool) -> (i64, i64) {
    let term = (end - start).num_seconds().max(1);
    let total = (term + DAY_SECS - 1) / DAY_SECS;
    let elapsed = (now - start).num_seconds().clamp(0, term);
    let used = if partial_used { (elapsed + DAY_SECS - 1) / DAY_SECS } else { elapsed / DAY_SECS };
    (total, used.min(total))
}

/// The share still owed, by the scenario's residual basis.
pub fn residual_share(residual: Residual, product: &ProductKind, now: DateTime<Utc>) -> Share {
    match (residual, product) {
        (Residual::UnusedTime { partial_day_used }, ProductKind::Membership { service_start, service_end }) => {
            let (total, used) = membership_days(*service_start, *service_end, now, partial_day_used);
            Share { numerator: total - used, denominator: total, unit: "days unused" }
        }
        (Residual::UnconsumedEpisodes {}, ProductKind::Album { total_episodes, consumed_episodes, .. }) => Share {
            numerator: i64::from(total_episodes - consumed_episodes),
            denominator: i64::from(*total_episodes),
            unit: "episodes unconsumed",
        },
        (_, ProductKind::Album { total_episodes, released_episodes, .. }) => Share {
            numerator: i64::from(total_episodes - released_episodes),
            denominator: i64::from(*total_episodes),
            unit: "episodes unreleased",
        },
        // Rules validation pairs MEMBERSHIP with unused time only; a membership under an
        // album basis is refunded nothing rather than guessed at.
        (_, ProductKind::Membership { .. }) => Share { numerator: 0, denominator: 1, unit: "not applicable" },
    }
}

/// One line of the breakdown; the lines add up to the amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub line: String,
    pub amount: Decimal,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub amount: Decimal,
    pub currency: Currency,
    pub breakdown: Vec<Line>,
    pub channels: Vec<ChannelRefund>,
}

fn line(name: &str, amount: Decimal, detail: String) -> Line {
    Line { line: name.to_string(), amount, detail }
}

/// The refund owed at `now`, capped by what is left to refund, split across channels.
pub fn quote(
    rules: &RefundRules,
    scenario: &ScenarioRules,
    p: &Purchase,
    refunded: &Refunded,
    now: DateTime<Utc>,
) -> Quote {
    let (mut lines, exact) = exact_lines(rules, scenario, p, now);
    let rounded = round(rules.rounding, p.currency, exact);
    let rule = format!("{} to {} decimals", rules.rounding.as_str(), p.currency.minor_units());
    lines.push(line("rounding", rounded - exact, rule));
    let remaining = (p.paid() - refunded.total()).max(Decimal::ZERO);
    let amount = rounded.min(remaining);
    if amount < rounded {
        lines.push(line("cap", amount - rounded, format!("only {remaining} is left to refund")));
    }
    // Whole-cent lines show the currency's decimals; exact lines keep theirs.
    for l in lines.iter_mut().filter(|l| l.amount.scale() < p.currency.minor_units()) {
        l.amount = normalized(l.amount, p.currency);
    }
    let channels = split(amount, &refunded.remaining(p), p.currency);
    Quote { amount: normalized(amount, p.currency), currency: p.currency, breakdown: lines, channels }
}

/// The breakdown before rounding, and the exact refund it adds up to (never negative).
fn exact_lines(
    rules: &RefundRules,
    scenario: &ScenarioRules,
    p: &Purchase,
    now: DateTime<Utc>,
) -> (Vec<Line>, Decimal) {
    let share = residual_share(scenario.residual, &p.product, now);
    let deducted = scenario.discount == DiscountTreatment::DeductInFull;
    let (base, base_detail) = if deducted {
        (p.price, format!("price {} (discount deducted in full below)", p.price))
    } else {
        (p.price - p.discount, format!("price {} less discount {}", p.price, p.discount))
    };
    let residual = share.of(base);
    let share_text = format!("{} of {} {}", share.numerator, share.denominator, share.unit);
    let tax = match scenario.tax {
        TaxTreatment::Prorate => share.of(p.tax),
        TaxTreatment::Full => p.tax,
        TaxTreatment::Keep => Decimal::ZERO,
    };
    let mut lines = vec![
        line("base", base, base_detail),
        line("residual_share", residual - base, share_text),
        line("tax", tax, format!("tax {} ({:?})", p.tax, scenario.tax).to_lowercase()),
    ];
    let discount = if deducted { p.discount } else { Decimal::ZERO };
    if deducted {
        lines.push(line("discount", -discount, "discount deducted in full".into()));
    }
    let (fee, fee_detail) = fee_line(rules, p);
    lines.push(line("fee", fee, fee_detail));
    let computed = residual + tax - discount + fee;
    let exact = computed.max(Decimal::ZERO);
    if exact > computed {
        lines.push(line("floor", exact - computed, "a refund is never negative".into()));
    }
    (lines, exact)
}

/// The fee part of a refund of `p`: the fee paid with the order, unless the rules keep
/// it, less the handling fees the rules charge by payment method and order type.
fn fee_line(rules: &RefundRules, p: &Purchase) -> (Decimal, String) {
    let fees = &rules.fees;
    let (paid_fee, kept) = if fees.keep_paid_fee { (Decimal::ZERO, "kept") } else { (p.fee, "refunded") };
    let by_method = fees.by_payment_method.get(&p.method).copied().unwrap_or(Decimal::ZERO);
    let by_type = fees.by_order_type.get(&p.order_type).copied().unwrap_or(Decimal::ZERO);
    let detail =
        format!("paid fee {} {kept}; handling fee {} {by_method} + {} {by_type}", p.fee, p.method, p.order_type);
    (paid_fee - by_method - by_type, detail)
}

/// Rounds to the currency's minor units with the named mode.
pub fn round(mode: Rounding, currency: Currency, amount: Decimal) -> Decimal {
    let strategy = match mode {
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        Rounding::Down => RoundingStrategy::ToZero,
    };
    normalized(amount.round_dp_with_strategy(currency.minor_units(), strategy), currency)
}

#[cfg(test)]
#[path = "refund_tests.rs"]
mod tests;
