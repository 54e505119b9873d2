//! The residual-value refund of a digital purchase (DOMAIN §4 steps 6–7): the amount,
//! line by line, and its split back across the channels that paid. Pure: facts and the
//! time of unsubscription in, decisions out. Intermediate values are exact decimals
//! (28 significant digits); only the final amount is rounded, with the rules' mode.
//! Every step is checked: an amount past what can be computed exactly is refused with
//! an error, never wrapped, panicked on or guessed at.
#![deny(clippy::float_arithmetic, clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::digital::{Entitlement, ProductKind};
use super::money::Currency;
use super::order::NewOrder;
use super::policy::refund::{DiscountTreatment, RefundRules, Residual, Rounding, ScenarioRules, TaxTreatment};
use super::refund_split::normalized;
pub use super::refund_split::{split, ChannelRefund};
use crate::error::{Error, Result};

const DAY_SECS: i64 = 86_400;

/// The most an order may have paid, in total and per channel, for a refund to be
/// computed: 10^15 in the major unit. The channel split works in minor units (at most
/// 3 decimals, so at most 10^18) and multiplies two of them, which stays far inside
/// `i128`.
pub const MAX_REFUNDABLE: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// The refusal of an order whose amounts pass what a refund can be computed on.
pub fn too_large() -> Error {
    Error::validation("order_id", "the order's amounts are out of the range a refund can be computed on")
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_add(b).ok_or_else(too_large)
}

fn sub(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_sub(b).ok_or_else(too_large)
}

fn mul(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_mul(b).ok_or_else(too_large)
}

fn div(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_div(b).ok_or_else(too_large)
}

fn sum(amounts: impl IntoIterator<Item = Decimal>) -> Result<Decimal> {
    amounts.into_iter().try_fold(Decimal::ZERO, add)
}

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
    /// The order total: price − discount + tax + fee.
    pub total: Decimal,
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
        let items = &order.items;
        let price =
            items.iter().try_fold(Decimal::ZERO, |acc, i| add(acc, mul(i.unit_price, Decimal::from(i.quantity))?))?;
        let total = order.total()?.amount;
        let mut paid_by_channel = BTreeMap::new();
        for split in &order.payment.splits {
            let paid = paid_by_channel.entry(split.channel.clone()).or_insert(Decimal::ZERO);
            *paid = add(*paid, split.amount)?;
        }
        if paid_by_channel.is_empty() {
            paid_by_channel.insert(order.payment.method.clone(), total);
        }
        Ok(Purchase {
            currency: order.currency,
            price,
            discount: sum(items.iter().map(|i| i.discount))?,
            tax: sum(items.iter().map(|i| i.tax))?,
            fee: sum(items.iter().map(|i| i.fee))?,
            total,
            method: order.payment.method.clone(),
            order_type: product.order_type.clone(),
            paid_by_channel,
            paid_at: order.payment.paid_at,
            product: product.kind.clone(),
            entitlement: product.entitlement.clone(),
        })
    }

    /// What the order actually took: what its channels paid, never more than its total.
    pub fn paid(&self) -> Decimal {
        // A sum past Decimal's range is certainly above the total.
        sum(self.paid_by_channel.values().copied()).map_or(self.total, |paid| paid.min(self.total))
    }
}

/// What has been refunded on an order so far, by original channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refunded {
    pub by_channel: BTreeMap<String, Decimal>,
}

impl Refunded {
    /// Saturates: a ledger past Decimal's range counts as more than anything paid, so
    /// nothing more is refunded.
    pub fn total(&self) -> Decimal {
        sum(self.by_channel.values().copied()).unwrap_or(Decimal::MAX)
    }

    /// What each channel can still take back (never below zero).
    pub fn remaining(&self, purchase: &Purchase) -> BTreeMap<String, Decimal> {
        purchase
            .paid_by_channel
            .iter()
            .map(|(c, paid)| {
                let refunded = self.by_channel.get(c).copied().unwrap_or(Decimal::ZERO);
                (c.clone(), paid.checked_sub(refunded).unwrap_or(Decimal::ZERO).max(Decimal::ZERO))
            })
            .collect()
    }

    /// Records `channels` as refunded; all or nothing.
    pub fn add(&mut self, channels: &[ChannelRefund]) -> Result<()> {
        let mut by_channel = self.by_channel.clone();
        for c in channels {
            let refunded = by_channel.entry(c.channel.clone()).or_insert(Decimal::ZERO);
            *refunded = add(*refunded, c.amount)?;
        }
        self.by_channel = by_channel;
        Ok(())
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
    pub fn of(&self, amount: Decimal) -> Result<Decimal> {
        div(mul(amount, Decimal::from(self.numerator))?, Decimal::from(self.denominator))
    }
}

/// `secs` in days, a started day counting as a whole one (`secs` ≥ 0).
fn days_up(secs: i64) -> i64 {
    (secs / DAY_SECS).saturating_add(i64::from(secs % DAY_SECS != 0))
}

/// Whole days of a membership term and those used by `now`.
pub fn membership_days(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>, partial_used: bool) -> (i64, i64) {
    let term = end.signed_duration_since(start).num_seconds().max(1);
    let total = days_up(term);
    let elapsed = now.signed_duration_since(start).num_seconds().clamp(0, term);
    let used = if partial_used { days_up(elapsed) } else { elapsed / DAY_SECS };
    (total, used.min(total))
}

/// The share still owed, by the scenario's residual basis. Inconsistent counts (more
/// consumed than exist) owe nothing rather than a negative share.
pub fn residual_share(residual: Residual, product: &ProductKind, now: DateTime<Utc>) -> Share {
    match (residual, product) {
        (Residual::UnusedTime { partial_day_used }, ProductKind::Membership { service_start, service_end }) => {
            let (total, used) = membership_days(*service_start, *service_end, now, partial_day_used);
            Share { numerator: total.saturating_sub(used), denominator: total, unit: "days unused" }
        }
        (Residual::UnconsumedEpisodes {}, ProductKind::Album { total_episodes, consumed_episodes, .. }) => Share {
            numerator: i64::from(total_episodes.saturating_sub(*consumed_episodes)),
            denominator: i64::from(*total_episodes),
            unit: "episodes unconsumed",
        },
        (_, ProductKind::Album { total_episodes, released_episodes, .. }) => Share {
            numerator: i64::from(total_episodes.saturating_sub(*released_episodes)),
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
/// An order whose amounts pass [`MAX_REFUNDABLE`] or Decimal's range is refused.
pub fn quote(
    rules: &RefundRules,
    scenario: &ScenarioRules,
    p: &Purchase,
    refunded: &Refunded,
    now: DateTime<Utc>,
) -> Result<Quote> {
    let paid = p.paid();
    if paid > MAX_REFUNDABLE || p.paid_by_channel.values().any(|c| *c > MAX_REFUNDABLE) {
        return Err(too_large());
    }
    let (mut lines, exact) = exact_lines(rules, scenario, p, now)?;
    let rounded = round(rules.rounding, p.currency, exact);
    let rule = format!("{} to {} decimals", rules.rounding.as_str(), p.currency.minor_units());
    lines.push(line("rounding", sub(rounded, exact)?, rule));
    let remaining = sub(paid, refunded.total())?.max(Decimal::ZERO);
    let amount = rounded.min(remaining);
    if amount < rounded {
        lines.push(line("cap", sub(amount, rounded)?, format!("only {remaining} is left to refund")));
    }
    // Whole-cent lines show the currency's decimals; exact lines keep theirs.
    for l in lines.iter_mut().filter(|l| l.amount.scale() < p.currency.minor_units()) {
        l.amount = normalized(l.amount, p.currency);
    }
    let channels = split(amount, &refunded.remaining(p), p.currency);
    Ok(Quote { amount: normalized(amount, p.currency), currency: p.currency, breakdown: lines, channels })
}

/// The breakdown before rounding, and the exact refund it adds up to (never negative).
fn exact_lines(
    rules: &RefundRules,
    scenario: &ScenarioRules,
    p: &Purchase,
    now: DateTime<Utc>,
) -> Result<(Vec<Line>, Decimal)> {
    let share = residual_share(scenario.residual, &p.product, now);
    let deducted = scenario.discount == DiscountTreatment::DeductInFull;
    let (base, base_detail) = if deducted {
        (p.price, format!("price {} (discount deducted in full below)", p.price))
    } else {
        (sub(p.price, p.discount)?, format!("price {} less discount {}", p.price, p.discount))
    };
    let residual = share.of(base)?;
    let share_text = format!("{} of {} {}", share.numerator, share.denominator, share.unit);
    let tax = match scenario.tax {
        TaxTreatment::Prorate => share.of(p.tax)?,
        TaxTreatment::Full => p.tax,
        TaxTreatment::Keep => Decimal::ZERO,
    };
    let mut lines = vec![
        line("base", base, base_detail),
        line("residual_share", sub(residual, base)?, share_text),
        line("tax", tax, format!("tax {} ({:?})", p.tax, scenario.tax).to_lowercase()),
    ];
    let discount = if deducted { p.discount } else { Decimal::ZERO };
    if deducted {
        lines.push(line("discount", sub(Decimal::ZERO, discount)?, "discount deducted in full".into()));
    }
    let (fee, fee_detail) = fee_line(rules, p)?;
    lines.push(line("fee", fee, fee_detail));
    let computed = add(sub(add(residual, tax)?, discount)?, fee)?;
    let exact = computed.max(Decimal::ZERO);
    if exact > computed {
        lines.push(line("floor", sub(exact, computed)?, "a refund is never negative".into()));
    }
    Ok((lines, exact))
}

/// The fee part of a refund of `p`: the fee paid with the order, unless the rules keep
/// it, less the handling fees the rules charge by payment method and order type.
fn fee_line(rules: &RefundRules, p: &Purchase) -> Result<(Decimal, String)> {
    let fees = &rules.fees;
    let (paid_fee, kept) = if fees.keep_paid_fee { (Decimal::ZERO, "kept") } else { (p.fee, "refunded") };
    let by_method = fees.by_payment_method.get(&p.method).copied().unwrap_or(Decimal::ZERO);
    let by_type = fees.by_order_type.get(&p.order_type).copied().unwrap_or(Decimal::ZERO);
    let detail =
        format!("paid fee {} {kept}; handling fee {} {by_method} + {} {by_type}", p.fee, p.method, p.order_type);
    Ok((sub(sub(paid_fee, by_method)?, by_type)?, detail))
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
