//! The `[risk]` section of the rules file: the score bands, the prepayment threshold and
//! shares, and the risk rules (a condition and what a match does).

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::money::Currency;
use crate::domain::order::PAYMENT_METHODS;
use crate::domain::risk::RiskLevel;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRules {
    pub prepayment_above: RiskLevel,
    pub prepayment_due_minutes: u32,
    pub bands: BTreeMap<RiskLevel, u32>,
    #[serde(default)]
    pub prepayment_share: BTreeMap<RiskLevel, Decimal>,
    #[serde(default)]
    pub rules: Vec<RiskRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRule {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub when: Condition,
    #[serde(default)]
    score: Option<u32>,
    #[serde(default)]
    force: Option<RiskLevel>,
}

/// When a risk rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The order total is above `amount` (in `currency` only, when given).
    AmountOver {
        amount: Decimal,
        currency: Option<Currency>,
    },
    /// With this order, the customer has more than `max_orders` orders in the last
    /// `window_minutes`.
    Velocity {
        max_orders: u32,
        window_minutes: u32,
    },
    NewCustomer {},
    CustomerBlocklist {
        customers: Vec<String>,
    },
    /// Compared ignoring case and spacing.
    AddressBlocklist {
        addresses: Vec<String>,
    },
    CountryMismatch {},
    PaymentMethod {
        methods: Vec<String>,
    },
}

/// What a matched rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Score(u32),
    /// Raises the level to at least this one.
    Force(RiskLevel),
}

impl RiskRule {
    pub fn new(id: &str, when: Condition, effect: Effect) -> RiskRule {
        let (score, force) = match effect {
            Effect::Score(s) => (Some(s), None),
            Effect::Force(l) => (None, Some(l)),
        };
        RiskRule { id: id.to_string(), description: None, when, score, force }
    }

    pub fn effect(&self) -> Effect {
        // `validate` guarantees exactly one of the two is set.
        match (self.score, self.force) {
            (_, Some(level)) => Effect::Force(level),
            (score, None) => Effect::Score(score.unwrap_or(0)),
        }
    }
}

impl RiskRules {
    /// The level whose band the score falls in.
    pub fn band_of(&self, score: u32) -> RiskLevel {
        self.bands.iter().filter(|(_, min)| score >= **min).map(|(level, _)| *level).max().unwrap_or(RiskLevel::Low)
    }

    /// The longest velocity window, which bounds how much history to read.
    pub fn longest_velocity_window(&self) -> Option<u32> {
        self.rules
            .iter()
            .filter_map(|r| match r.when {
                Condition::Velocity { window_minutes, .. } => Some(window_minutes),
                _ => None,
            })
            .max()
    }

    pub fn uses_history(&self) -> bool {
        self.rules.iter().any(|r| r.when == Condition::NewCustomer {})
    }
}

impl RiskRules {
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, problem: String| Err((field.to_string(), problem));
        let mut previous = (RiskLevel::Low, 0);
        for level in [RiskLevel::Medium, RiskLevel::High, RiskLevel::Block] {
            let field = format!("risk.bands.{}", level.as_str());
            let Some(&min) = self.bands.get(&level) else { return fail(&field, "is required".into()) };
            if min <= previous.1 && previous.0 != RiskLevel::Low || min == 0 {
                return fail(&field, format!("must be above {} ({})", previous.0.as_str(), previous.1));
            }
            previous = (level, min);
        }
        if self.bands.get(&RiskLevel::Low).is_some_and(|m| *m != 0) {
            return fail("risk.bands.LOW", "LOW starts at 0; leave it out or set it to 0".into());
        }
        if self.prepayment_above == RiskLevel::Block {
            return fail("risk.prepayment_above", "BLOCK is always rejected; choose LOW, MEDIUM or HIGH".into());
        }
        if self.prepayment_due_minutes == 0 {
            return fail("risk.prepayment_due_minutes", "must be at least 1".into());
        }
        for level in [RiskLevel::Medium, RiskLevel::High].into_iter().filter(|l| *l > self.prepayment_above) {
            let field = format!("risk.prepayment_share.{}", level.as_str());
            match self.prepayment_share.get(&level) {
                None => return fail(&field, format!("is required: {} is above prepayment_above", level.as_str())),
                Some(s) if *s <= Decimal::ZERO || *s > Decimal::ONE => {
                    return fail(&field, format!("must be a share above 0 and at most 1, got {s}"))
                }
                Some(_) => {}
            }
        }
        let mut ids = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate(&format!("risk.rules[{i}]"))?;
            if !ids.insert(rule.id.as_str()) {
                return fail(&format!("risk.rules[{i}].id"), format!("{:?} is used by an earlier rule", rule.id));
            }
        }
        Ok(())
    }
}

impl RiskRule {
    fn validate(&self, at: &str) -> Result<(), (String, String)> {
        let fail = |field: &str, problem: &str| Err((format!("{at}.{field}"), problem.to_string()));
        if self.id.trim().is_empty() {
            return fail("id", "must not be empty");
        }
        match (self.score, self.force) {
            (Some(_), Some(_)) => return fail("score", "give either score or force, not both"),
            (None, None) => return fail("score", "give score (points to add) or force (a level)"),
            _ => {}
        }
        match &self.when {
            Condition::AmountOver { amount, .. } if *amount < Decimal::ZERO => {
                fail("when.amount", "must not be negative")
            }
            Condition::Velocity { window_minutes: 0, .. } => fail("when.window_minutes", "must be at least 1"),
            Condition::CustomerBlocklist { customers: l }
            | Condition::AddressBlocklist { addresses: l }
            | Condition::PaymentMethod { methods: l }
                if l.iter().any(|s| s.trim().is_empty()) =>
            {
                fail("when", "list entries must not be empty")
            }
            Condition::PaymentMethod { methods } => {
                match methods.iter().find(|m| !PAYMENT_METHODS.contains(&m.as_str())) {
                    Some(m) => fail(
                        "when.methods",
                        &format!("unknown payment method {m:?}: expected one of {}", PAYMENT_METHODS.join(", ")),
                    ),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}
