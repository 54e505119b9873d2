//! Splitting a refund back across the channels that paid, in minor units, so the parts
//! add up exactly and no channel gets back more than it paid.
#![deny(clippy::float_arithmetic)]

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::Currency;
use super::order::PAYMENT_METHODS;

/// The part of a refund going back through one original channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRefund {
    /// The channel that paid.
    pub channel: String,
    pub amount: Decimal,
    /// Where the money goes: the channel itself; virtual coins go to the platform account.
    pub destination: String,
    /// `MONEY`, or `COINS` for virtual coins credited back as coins.
    pub form: String,
}

pub(crate) fn normalized(amount: Decimal, currency: Currency) -> Decimal {
    let mut amount = amount;
    amount.rescale(currency.minor_units());
    amount
}

fn minor(amount: Decimal, currency: Currency) -> i128 {
    normalized(amount, currency).mantissa()
}

fn channel_rank(channel: &str) -> usize {
    PAYMENT_METHODS.iter().position(|m| *m == channel).unwrap_or(PAYMENT_METHODS.len())
}

/// Splits `total` across channels in proportion to what each can still take back. In
/// minor units: each gets the floor of its share; the cents left over go one each to
/// the largest remainders, ties to the channel listed first in `PAYMENT_METHODS`. The
/// parts add up to `total` exactly, no part exceeds its channel's remaining amount when
/// `total` does not exceed their sum, and the input order of the channels is irrelevant.
pub fn split(total: Decimal, remaining: &BTreeMap<String, Decimal>, currency: Currency) -> Vec<ChannelRefund> {
    let mut parts: Vec<(&str, i128)> =
        remaining.iter().map(|(c, r)| (c.as_str(), minor(*r, currency).max(0))).filter(|(_, r)| *r > 0).collect();
    parts.sort_by_key(|(c, _)| (channel_rank(c), *c));
    // Amounts are at most `money::MAX_AMOUNT` (1e12, 1e15 in minor units), so the
    // products below stay far inside i128; saturating keeps that true of any input.
    let sum: i128 = parts.iter().map(|(_, r)| *r).fold(0, i128::saturating_add);
    let total_minor = minor(total, currency);
    if sum == 0 || total_minor <= 0 {
        return Vec::new();
    }
    let mut shares: Vec<(usize, i128, i128)> = parts
        .iter()
        .enumerate()
        .map(|(i, (_, r))| {
            let product = total_minor.saturating_mul(*r);
            (i, product.checked_div(sum).unwrap_or(0), product.checked_rem(sum).unwrap_or(0))
        })
        .collect();
    let mut left = total_minor.saturating_sub(shares.iter().map(|s| s.1).fold(0, i128::saturating_add));
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(shares.get(i).map_or(0, |s| s.2)), i));
    for i in order {
        if left <= 0 {
            break;
        }
        if let Some(share) = shares.get_mut(i) {
            share.1 = share.1.saturating_add(1);
        }
        left = left.saturating_sub(1);
    }
    shares
        .into_iter()
        .filter(|s| s.1 > 0)
        .filter_map(|(i, cents, _)| {
            let channel = parts.get(i)?.0.to_string();
            let coins = channel == "VIRTUAL_COINS";
            Some(ChannelRefund {
                destination: if coins { "PLATFORM_ACCOUNT".into() } else { channel.clone() },
                form: if coins { "COINS".into() } else { "MONEY".into() },
                amount: Decimal::try_from_i128_with_scale(cents, currency.minor_units()).ok()?,
                channel,
            })
        })
        .collect()
}
