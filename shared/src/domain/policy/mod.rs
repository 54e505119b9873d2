//! The policy the domain decides with: every section of the rules file as typed
//! structs, and the checks that make a set of rules usable (a band above the one
//! before it, a template for every reason, a strategy that can end). Reading the file
//! itself (TOML, size limits, which file) is the layer above, `rules`, which depends on
//! this and never the reverse. `docs/rules.md` documents every field.
//!
//! - [`risk`]: `[risk]`: score bands, prepayment threshold and shares, risk rules.
//! - [`audit`]: `[audit]`: reasons, teams, templates, attempt schedule.
//! - [`fulfilment`]: `[fulfilment]`: systems, status table, strategies.
//! - [`refund`]: `[refunds]`: scenarios, conditions, review, formula.

pub mod audit;
pub mod fulfilment;
pub mod refund;
pub mod risk;

use serde::Deserialize;

use audit::AuditRules;
use fulfilment::FulfilmentRules;
use refund::RefundRules;
use risk::RiskRules;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub business_types: Vec<String>,
    pub risk: RiskRules,
    pub audit: AuditRules,
    pub fulfilment: FulfilmentRules,
    pub refunds: RefundRules,
}

impl Rules {
    /// The first problem with the rules, as the field it is in and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.business_types.is_empty() {
            return Err(("business_types".into(), "must name at least one business type".into()));
        }
        self.risk.validate()?;
        self.audit.validate()?;
        self.fulfilment.validate(&self.business_types)?;
        self.refunds.validate()
    }
}
