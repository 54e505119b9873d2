//! What each order of a soak run goes through, drawn from the seed: how it is placed
//! (every risk level; prepayments paid in time, late or never; blocked), its audit
//! results, the statuses its fulfilment systems report and, for digital goods, its
//! refund requests and reviews. The plan says what is sent; `expect` says what must
//! come of it.

use orderflow_shared::domain::policy::audit::AuditRules;

use super::rng::Rng;

/// How an order is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A retail order dispatched at once (LOW, MEDIUM) or once its prepayment is paid
    /// in time (HIGH, by amount or by a country mismatch).
    Retail(Risk),
    Digital(Product),
    /// HIGH; paid after the due time: refused, and cancelled by the schedule.
    PrepaymentLate,
    /// HIGH; never paid: cancelled by the schedule when due.
    PrepaymentNever,
    /// BLOCK, by the customer blocklist or the address blocklist.
    Blocked {
        by_address: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    Low,
    Medium,
    HighAmount,
    HighMismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// A membership bought `used_days` before the order is placed.
    Membership {
        used_days: i64,
    },
    Album,
}

/// The audit results the middle office reports, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audit {
    Pass,
    /// A retryable failure, re-audits for about 90 minutes, then a pass.
    RetryThenPass(String),
    /// Two retryable failures at once (and one repeated), another later, then a pass.
    RetryTwiceThenPass(String),
    /// A retryable failure and nothing more: the window closes a day later.
    RetryNever(String),
    /// A failure that is not retryable.
    Reject(String),
    /// A pass, then a failure that arrives late and changes nothing.
    PassThenLateFailure(String),
}

/// What the fulfilment systems report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fulfil {
    InOrder,
    /// Every status at once, the end first and the one that starts the chain last.
    OutOfOrder,
    /// In order, each status twice, earlier ones again later.
    Duplicated,
    /// Normal statuses up to `node`, then an exception there.
    Exception(&'static str),
    /// Nothing: only for orders whose audit rejects them, which recalls fulfilment.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refunds {
    None,
    /// Issued at once; a second request finds the membership unsubscribed.
    AutoApproved,
    /// A membership past its refund window.
    Refused,
    ReviewApproved,
    ReviewRejected,
    /// Two requests both sent to review; the first approval refunds, the second finds
    /// nothing left to refund.
    TwoPending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub index: usize,
    pub id: String,
    pub placement: Placement,
    /// For dispatched orders.
    pub audit: Option<Audit>,
    pub fulfil: Option<Fulfil>,
    pub refunds: Refunds,
    /// The same placement is posted again later (answered with its first result).
    pub placed_twice: bool,
}

/// The reason codes of the rules, split by whether they are retryable.
#[derive(Debug, Clone)]
pub struct Reasons {
    pub retryable: Vec<String>,
    pub terminal: Vec<String>,
}

impl Reasons {
    pub fn of(rules: &AuditRules) -> Reasons {
        let pick = |retryable: bool| {
            rules.reasons.iter().filter(|(_, r)| r.retryable == retryable).map(|(code, _)| code.clone()).collect()
        };
        Reasons { retryable: pick(true), terminal: pick(false) }
    }
}

pub const RETAIL_NODES: [&str; 4] = ["payment", "invoice", "warehouse", "carrier"];
pub const DIGITAL_NODES: [&str; 2] = ["entitlement", "notification"];

/// The plans of `orders` orders, ids `o-000000` on.
pub fn plans(seed: u64, orders: usize, reasons: &Reasons) -> Vec<Plan> {
    let mut rng = Rng::new(seed, 1);
    (0..orders).map(|index| plan(&mut rng, index, reasons)).collect()
}

fn plan(rng: &mut Rng, index: usize, reasons: &Reasons) -> Plan {
    use Placement::*;
    let placements = [
        (Retail(Risk::Low), 22),
        (Retail(Risk::Medium), 9),
        (Retail(Risk::HighAmount), 6),
        (Retail(Risk::HighMismatch), 5),
        (PrepaymentLate, 4),
        (PrepaymentNever, 4),
        (Blocked { by_address: false }, 3),
        (Blocked { by_address: true }, 2),
        // The refunds drawn next choose the product.
        (Digital(Product::Album), 45),
    ];
    let placement = rng.weighted(&placements).unwrap_or(Retail(Risk::Low));
    let mut plan = Plan {
        index,
        id: format!("o-{index:06}"),
        placement,
        audit: None,
        fulfil: None,
        refunds: Refunds::None,
        placed_twice: rng.chance(100_000),
    };
    match placement {
        Retail(_) => dispatched(rng, &mut plan, reasons, false),
        Digital(_) => digital(rng, &mut plan, reasons),
        PrepaymentLate | PrepaymentNever | Blocked { .. } => {}
    }
    plan
}

/// A digital order: its refunds decide its product (a membership used for long enough
/// is past its refund window) and keep its audit from rejecting it.
fn digital(rng: &mut Rng, plan: &mut Plan, reasons: &Reasons) {
    use Refunds::*;
    let refunds =
        [(None, 3), (AutoApproved, 2), (Refused, 1), (ReviewApproved, 2), (ReviewRejected, 1), (TwoPending, 1)];
    plan.refunds = rng.weighted(&refunds).unwrap_or(None);
    let product = match plan.refunds {
        AutoApproved => Product::Membership { used_days: 120 },
        Refused => Product::Membership { used_days: 300 },
        ReviewApproved | ReviewRejected | TwoPending => Product::Album,
        None if rng.chance(500_000) => Product::Album,
        None => Product::Membership { used_days: 30 },
    };
    plan.placement = Placement::Digital(product);
    dispatched(rng, plan, reasons, plan.refunds != None);
}

fn dispatched(rng: &mut Rng, plan: &mut Plan, reasons: &Reasons, refunded: bool) {
    let any: Vec<String> = reasons.retryable.iter().chain(&reasons.terminal).cloned().collect();
    // A refunded order's audit never rejects it: its refunds would be refused.
    let choice = rng.below(if refunded { 4 } else { 6 });
    let mut reason = |list: &[String]| rng.pick(list).cloned().unwrap_or_default();
    let audit = match choice {
        0 => Audit::Pass,
        1 => Audit::RetryThenPass(reason(&reasons.retryable)),
        2 => Audit::RetryTwiceThenPass(reason(&reasons.retryable)),
        3 => Audit::PassThenLateFailure(reason(&any)),
        4 => Audit::RetryNever(reason(&reasons.retryable)),
        _ => Audit::Reject(reason(&reasons.terminal)),
    };
    let nodes: &[&'static str] = if plan.is_digital() { &DIGITAL_NODES } else { &RETAIL_NODES };
    let node = rng.pick(nodes).copied().unwrap_or("payment");
    let fulfil = match audit {
        Audit::Reject(_) => Fulfil::Idle,
        Audit::RetryNever(_) => [Fulfil::Idle, Fulfil::InOrder, Fulfil::Exception(node)][rng.below(3)],
        _ => [Fulfil::InOrder, Fulfil::OutOfOrder, Fulfil::Duplicated, Fulfil::Exception(node)][rng.below(4)],
    };
    plan.audit = Some(audit);
    plan.fulfil = Some(fulfil);
}

impl Plan {
    pub fn is_digital(&self) -> bool {
        matches!(self.placement, Placement::Digital(_))
    }

    pub fn pays_prepayment(&self) -> bool {
        matches!(self.placement, Placement::Retail(Risk::HighAmount | Risk::HighMismatch))
    }

    /// The row of the report's flow table.
    pub fn flow(&self) -> &'static str {
        match self.placement {
            Placement::Retail(Risk::Low) => "retail, risk LOW",
            Placement::Retail(Risk::Medium) => "retail, risk MEDIUM",
            Placement::Retail(Risk::HighAmount) => "retail, risk HIGH (amount), prepaid",
            Placement::Retail(Risk::HighMismatch) => "retail, risk HIGH (countries), prepaid",
            Placement::Digital(Product::Membership { .. }) => "digital membership, risk LOW",
            Placement::Digital(Product::Album) => "digital album, risk LOW",
            Placement::PrepaymentLate => "risk HIGH, prepayment late",
            Placement::PrepaymentNever => "risk HIGH, prepayment never paid",
            Placement::Blocked { by_address: false } => "risk BLOCK (customer)",
            Placement::Blocked { by_address: true } => "risk BLOCK (address)",
        }
    }
}

impl Audit {
    pub fn label(&self) -> String {
        match self {
            Audit::Pass => "pass".into(),
            Audit::RetryThenPass(r) => format!("{r}, re-audits, pass"),
            Audit::RetryTwiceThenPass(r) => format!("{r} ×3, re-audits, pass"),
            Audit::RetryNever(r) => format!("{r}, window closes"),
            Audit::Reject(r) => format!("{r} (not retryable)"),
            Audit::PassThenLateFailure(r) => format!("pass, then late {r}"),
        }
    }
}

impl Fulfil {
    pub fn label(&self) -> String {
        match self {
            Fulfil::InOrder => "statuses in order".into(),
            Fulfil::OutOfOrder => "statuses out of order".into(),
            Fulfil::Duplicated => "statuses duplicated".into(),
            Fulfil::Exception(node) => format!("exception at {node}"),
            Fulfil::Idle => "no status (recalled by the audit)".into(),
        }
    }
}

impl Refunds {
    pub fn label(&self) -> &'static str {
        match self {
            Refunds::None => "none",
            Refunds::AutoApproved => "approved at once, then a second request",
            Refunds::Refused => "refused (conditions)",
            Refunds::ReviewApproved => "reviewed, approved",
            Refunds::ReviewRejected => "reviewed, rejected",
            Refunds::TwoPending => "two in review, both approved",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons() -> Reasons {
        Reasons { retryable: vec!["R1".into(), "R2".into()], terminal: vec!["T1".into()] }
    }

    #[test]
    fn a_seed_draws_the_same_plans() {
        assert_eq!(plans(5, 300, &reasons()), plans(5, 300, &reasons()));
        assert_ne!(plans(5, 300, &reasons()), plans(6, 300, &reasons()));
    }

    #[test]
    fn refunded_orders_are_never_rejected_by_their_audit_and_idle_fulfilment_is_recalled() {
        for plan in plans(9, 3000, &reasons()) {
            if plan.refunds != Refunds::None {
                assert!(!matches!(plan.audit, Some(Audit::Reject(_) | Audit::RetryNever(_))), "{plan:?}");
            }
            if plan.fulfil == Some(Fulfil::Idle) {
                assert!(matches!(plan.audit, Some(Audit::Reject(_) | Audit::RetryNever(_))), "{plan:?}");
            }
            assert_eq!(plan.audit.is_some(), matches!(plan.placement, Placement::Retail(_) | Placement::Digital(_)));
        }
    }
}
