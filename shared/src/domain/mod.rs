//! Pure domain logic: validated types and decisions from facts and the time. No I/O.
//!
//! Every computation on money, counts and times is checked: an overflow is an error
//! naming the field, never a panic (release builds abort on panic) nor a wrapped value.
//!
//! - [`ids`], [`money`]: validated identifiers; decimal amounts in a currency.
//! - [`policy`]: the rule types the decisions below are made with, and their checks.
//! - [`order`], [`digital`]: the order (request, entity); what a digital order bought.
//! - [`risk`], [`order_prepayment`]: risk scoring; placement and prepayment transitions.
//! - [`audit`], [`order_audit`]: the re-audit chain's decisions; the audit transitions.
//! - [`exception`], [`order_reaudit`]: an order's audit exception; a re-audit on request.
//! - [`fulfilment`]: staged fulfilment progress.
//! - [`timeline`]: the transitions an entity went through, as the transition helper records them.
//! - [`refund`], [`refund_policy`], [`refund_split`]: residual-value refunds, their
//!   conditions and entitlement, and the split back across the channels that paid.
#![deny(
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod audit;
pub mod digital;
pub mod exception;
pub mod fulfilment;
pub mod ids;
pub mod money;
pub mod order;
pub mod order_audit;
pub mod order_prepayment;
pub mod order_reaudit;
pub mod policy;
pub mod refund;
pub mod refund_policy;
pub mod refund_split;
pub mod risk;
#[cfg(test)]
pub(crate) mod test_orders;
pub mod timeline;

use chrono::{DateTime, Duration, Utc};

/// `t + d`, held at the latest representable time instead of overflowing. Times from
/// outside are bounded to a window around the clock (see `input::TimeWindow`), so this
/// only ever saturates on a rules file with absurd durations.
pub fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, held at the earliest representable time instead of overflowing.
pub fn earlier(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}
