//! The `[refunds]` section of the rules file: per scenario, the extraction template,
//! the unsubscribe conditions, the auto-review limits and reviewer, the residual-value
//! formula and what the refund does to the entitlement; the handling fees kept; the
//! rounding mode. `docs/rules.md` describes every field.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::digital::PRODUCT_KINDS;
use crate::domain::order::PAYMENT_METHODS;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRules {
    pub rounding: Rounding,
    pub fees: FeeRules,
    pub scenarios: BTreeMap<String, ScenarioRules>,
}

/// How the exact refund is rounded to the currency's minor units (ISO 4217 decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Banker's rounding: halves go to the even neighbour.
    HalfEven,
    /// Halves away from zero.
    HalfUp,
    /// Toward zero: the platform never pays a fraction of a minor unit it did not owe.
    Down,
}

impl Rounding {
    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfEven => "half_even",
            Rounding::HalfUp => "half_up",
            Rounding::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRules {
    /// Whether the handling fee paid with the order is kept (not refunded).
    pub keep_paid_fee: bool,
    /// A handling fee kept on every refund of an order paid by this method.
    #[serde(default)]
    pub by_payment_method: BTreeMap<String, Decimal>,
    /// A handling fee kept on every refund of an order of this order type.
    #[serde(default)]
    pub by_order_type: BTreeMap<String, Decimal>,
}

/// Facts an extraction template may collect about a refund request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// When the order was paid.
    PaidAt,
    /// A membership's service start and end.
    ServicePeriod,
    /// An album's total, released and consumed episodes.
    Episodes,
    /// The payment split across channels.
    Payment,
    /// The entitlement: key, flags, content, status.
    Entitlement,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRules {
    pub extract: Vec<Fact>,
    pub conditions: Vec<RefundCondition>,
    pub review: ReviewRules,
    pub residual: Residual,
    pub tax: TaxTreatment,
    pub discount: DiscountTreatment,
    pub entitlement: EntitlementChange,
}

/// An unsubscribe condition; a failed one is reported by its `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RefundCondition {
    /// The order has a `payment.paid_at`.
    Paid {},
    /// The unsubscription comes at most `days` after the payment.
    WithinDaysOfPurchase { days: u32 },
    /// Time used (membership) or episodes consumed (album) is at most this share.
    MaxConsumedShare { share: Decimal },
    /// The entitlement's product status is one of these.
    EntitlementStatus { statuses: Vec<String> },
}

impl RefundCondition {
    /// The reason code a failure reports.
    pub fn reason(&self) -> &'static str {
        match self {
            RefundCondition::Paid {} => "NOT_PAID",
            RefundCondition::WithinDaysOfPurchase { .. } => "REFUND_WINDOW_EXPIRED",
            RefundCondition::MaxConsumedShare { .. } => "CONSUMED_TOO_MUCH",
            RefundCondition::EntitlementStatus { .. } => "ENTITLEMENT_NOT_REFUNDABLE",
        }
    }

    fn needs(&self, scenario: &str) -> Fact {
        match self {
            RefundCondition::Paid {} | RefundCondition::WithinDaysOfPurchase { .. } => Fact::PaidAt,
            RefundCondition::MaxConsumedShare { .. } if scenario == "ALBUM" => Fact::Episodes,
            RefundCondition::MaxConsumedShare { .. } => Fact::ServicePeriod,
            RefundCondition::EntitlementStatus { .. } => Fact::Entitlement,
        }
    }
}

/// When a passing refund is decided automatically; the rest go to `reviewer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRules {
    pub reviewer: ReviewerRole,
    /// Refunds above this amount need a reviewer.
    pub auto_max_amount: Decimal,
    /// Channels a refund may go back through without a reviewer.
    pub auto_channels: Vec<String>,
    /// User flags on the entitlement that send any refund to a reviewer.
    #[serde(default)]
    pub review_flags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewerRole {
    Platform,
    Seller,
}

impl ReviewerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewerRole::Platform => "platform",
            ReviewerRole::Seller => "seller",
        }
    }
}

/// The share of the purchase still owed to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case", deny_unknown_fields)]
pub enum Residual {
    /// Membership: unused whole days ÷ days of the term. A started day counts as
    /// used when `partial_day_used`, else as unused.
    UnusedTime { partial_day_used: bool },
    /// Album: episodes not yet released ÷ total episodes.
    UnreleasedEpisodes {},
    /// Album: episodes not yet consumed ÷ total episodes.
    UnconsumedEpisodes {},
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    /// The tax is refunded in the residual share.
    Prorate,
    /// The tax is refunded in full.
    Full,
    /// The tax is kept.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountTreatment {
    /// The residual share applies to the price after discount.
    Prorate,
    /// The residual share applies to the full price, and the whole discount is then
    /// taken off the refund.
    DeductInFull,
}

/// What a refund does to the entitlement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementChange {
    pub revoke_key: bool,
    #[serde(default)]
    pub add_flags: Vec<String>,
    #[serde(default)]
    pub remove_flags: Vec<String>,
    pub service_content: String,
    pub product_status: String,
}

type Problem = (String, String);

impl RefundRules {
    pub fn scenario(&self, name: &str) -> Option<&ScenarioRules> {
        self.scenarios.get(name)
    }

    pub fn validate(&self) -> Result<(), Problem> {
        for (method, fee) in &self.fees.by_payment_method {
            let at = format!("refunds.fees.by_payment_method.{method}");
            if !PAYMENT_METHODS.contains(&method.as_str()) {
                return Err((at, format!("unknown payment method: expected one of {}", PAYMENT_METHODS.join(", "))));
            }
            non_negative(&at, *fee)?;
        }
        for (order_type, fee) in &self.fees.by_order_type {
            non_negative(&format!("refunds.fees.by_order_type.{order_type}"), *fee)?;
        }
        if self.scenarios.is_empty() {
            return Err(("refunds.scenarios".into(), "must define at least one scenario".into()));
        }
        for (name, scenario) in &self.scenarios {
            let at = format!("refunds.scenarios.{name}");
            if !PRODUCT_KINDS.contains(&name.as_str()) {
                return Err((at, format!("unknown scenario: expected one of {}", PRODUCT_KINDS.join(", "))));
            }
            scenario.validate(name, &at)?;
        }
        Ok(())
    }
}

fn non_negative(at: &str, value: Decimal) -> Result<(), Problem> {
    if value < Decimal::ZERO {
        return Err((at.to_string(), format!("must not be negative, got {value}")));
    }
    Ok(())
}

impl ScenarioRules {
    fn validate(&self, name: &str, at: &str) -> Result<(), Problem> {
        let extracted: BTreeSet<Fact> = self.extract.iter().copied().collect();
        let missing = |fact: Fact, field: String| -> Result<(), Problem> {
            match extracted.contains(&fact) {
                true => Ok(()),
                false => Err((field, format!("needs the fact {fact:?}, which `extract` does not collect"))),
            }
        };
        for (i, condition) in self.conditions.iter().enumerate() {
            let field = format!("{at}.conditions[{i}]");
            missing(condition.needs(name), field.clone())?;
            match condition {
                RefundCondition::MaxConsumedShare { share } if *share < Decimal::ZERO || *share > Decimal::ONE => {
                    return Err((format!("{field}.share"), format!("must be a share from 0 to 1, got {share}")))
                }
                RefundCondition::EntitlementStatus { statuses } if statuses.is_empty() => {
                    return Err((format!("{field}.statuses"), "must list at least one status".into()))
                }
                _ => {}
            }
        }
        let basis_fits = matches!(
            (name, self.residual),
            ("MEMBERSHIP", Residual::UnusedTime { .. })
                | ("ALBUM", Residual::UnreleasedEpisodes {} | Residual::UnconsumedEpisodes {})
        );
        if !basis_fits {
            return Err((format!("{at}.residual.basis"), format!("{:?} does not apply to {name}", self.residual)));
        }
        let residual_fact = if name == "ALBUM" { Fact::Episodes } else { Fact::ServicePeriod };
        missing(residual_fact, format!("{at}.residual"))?;
        missing(Fact::Payment, format!("{at}.extract"))?;
        non_negative(&format!("{at}.review.auto_max_amount"), self.review.auto_max_amount)?;
        if let Some(c) = self.review.auto_channels.iter().find(|c| !PAYMENT_METHODS.contains(&c.as_str())) {
            return Err((format!("{at}.review.auto_channels"), format!("unknown channel {c:?}")));
        }
        if self.entitlement.product_status.trim().is_empty() {
            return Err((format!("{at}.entitlement.product_status"), "must not be empty".into()));
        }
        Ok(())
    }
}
