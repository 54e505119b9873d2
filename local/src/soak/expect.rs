//! What must come of each plan: the order's final state in the store, its refunds'
//! final states, and every effect (a CloudEvent type about the order) with the number
//! of distinct message ids it must have, some of them by id. Derived from the plan and
//! the shipped rules (`config/rules.toml`): the strategies' systems and nodes, a one-day
//! prepayment due time and retry window.

use std::collections::BTreeMap;

use super::plan::{Audit, Fulfil, Placement, Plan, Refunds};

/// How many distinct ids an effect must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exactly(usize),
    /// Re-audit requests: attempts 1 to n, each once, n at least this.
    Attempts(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfilment {
    pub status: &'static str,
    pub triggered: Vec<&'static str>,
    pub cancelled: Vec<&'static str>,
    pub recalled_for: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub status: &'static str,
    pub audit_status: Option<&'static str>,
    pub fulfilment: Option<Fulfilment>,
    /// The final status of each refund request, in request order.
    pub refunds: Vec<&'static str>,
    /// Every effect type the order may have; any other is unexpected.
    pub effects: BTreeMap<&'static str, Count>,
    /// Ids that must be among the effects.
    pub ids: Vec<String>,
}

/// The effect types the checker counts (on any topic but the inputs'), so a type
/// missing from [`Expected::effects`] must not appear at all.
pub const EFFECTS: [&str; 16] = [
    "order.dispatched",
    "order.prepayment_requested",
    "order.rejected",
    "audit.requested",
    "order.audit.provisionally_accepted",
    "order.audit.approved",
    "order.audit.rejected",
    "notification",
    "fulfilment.trigger",
    "fulfilment.cancel",
    "order.fulfilment.completed",
    "order.fulfilment.exception",
    "refund.review_requested",
    "refund.issued",
    "refund.rejected",
    "entitlement.updated",
];

/// The status the order is placed with.
pub fn placed_status(plan: &Plan) -> &'static str {
    match plan.placement {
        Placement::Retail(_) if plan.pays_prepayment() => "AWAITING_PREPAYMENT",
        Placement::Retail(_) | Placement::Digital(_) => "DISPATCHED",
        Placement::PrepaymentLate | Placement::PrepaymentNever => "AWAITING_PREPAYMENT",
        Placement::Blocked { .. } => "REJECTED",
    }
}

pub fn expected(plan: &Plan) -> Expected {
    let mut e = Expected {
        status: "DISPATCHED",
        audit_status: None,
        fulfilment: None,
        refunds: Vec::new(),
        effects: EFFECTS.iter().map(|t| (*t, Count::Exactly(0))).collect(),
        ids: Vec::new(),
    };
    let high = placed_status(plan) == "AWAITING_PREPAYMENT";
    e.effects.insert("order.prepayment_requested", Count::Exactly(usize::from(high)));
    match (&plan.placement, &plan.audit, plan.fulfil) {
        (Placement::Blocked { .. }, ..) => rejected(&mut e, "REJECTED"),
        (Placement::PrepaymentLate | Placement::PrepaymentNever, ..) => rejected(&mut e, "CANCELLED"),
        (_, Some(audit), Some(fulfil)) => {
            e.effects.insert("order.dispatched", Count::Exactly(1));
            e.ids.push(format!("{}:audit.requested:1", plan.id));
            audited(&mut e, plan, audit);
            e.fulfilment = Some(fulfilment(&mut e, plan, fulfil, audit));
            refunds(&mut e, plan.refunds);
        }
        _ => {}
    }
    e
}

fn rejected(e: &mut Expected, status: &'static str) {
    e.status = status;
    e.effects.insert("order.rejected", Count::Exactly(1));
}

pub fn audit_id(plan: &Plan, n: &str) -> String {
    format!("aud-{}-{n}", plan.id.trim_start_matches("o-"))
}

fn audited(e: &mut Expected, plan: &Plan, audit: &Audit) {
    let id = &plan.id;
    let (approved, provisional, notifications, attempts) = match audit {
        Audit::Pass | Audit::PassThenLateFailure(_) => (true, false, 0, Count::Exactly(1)),
        Audit::RetryThenPass(_) | Audit::RetryTwiceThenPass(_) => (true, true, 1, Count::Attempts(2)),
        Audit::RetryNever(_) => (false, true, 2, Count::Attempts(5)),
        Audit::Reject(_) => (false, false, 0, Count::Exactly(1)),
    };
    e.audit_status = Some(if approved { "APPROVED" } else { "REJECTED" });
    e.effects.insert("audit.requested", attempts);
    e.effects.insert("order.audit.provisionally_accepted", Count::Exactly(usize::from(provisional)));
    e.effects.insert("order.audit.approved", Count::Exactly(usize::from(approved)));
    e.effects.insert("order.audit.rejected", Count::Exactly(usize::from(!approved)));
    e.effects.insert("notification", Count::Exactly(notifications));
    let first = audit_id(plan, "1");
    match audit {
        Audit::Pass | Audit::PassThenLateFailure(_) => e.ids.push(format!("{id}:order.audit.approved:audit:{first}")),
        Audit::RetryThenPass(_) | Audit::RetryTwiceThenPass(_) => {
            e.ids.push(format!("{id}:order.audit.approved:audit:{}", audit_id(plan, "p")));
        }
        Audit::Reject(_) => e.ids.push(format!("{id}:order.audit.rejected:audit:{first}")),
        Audit::RetryNever(_) => {
            e.ids.push(format!("{id}:order.audit.provisionally_accepted:audit:{first}"));
            e.ids.push(format!("{id}:notification:audit:{first}"));
            e.ids.push(format!("{id}:order.audit.rejected:window-closed"));
            e.ids.push(format!("{id}:notification:window-closed"));
        }
    }
}

/// The systems each strategy triggers first, all of them, and the systems recalled by
/// an exception at each node (`config/rules.toml` `[fulfilment.strategies]`).
fn systems(digital: bool) -> (Vec<&'static str>, Vec<&'static str>) {
    if digital {
        (vec!["entitlement"], vec!["entitlement", "notification"])
    } else {
        (vec!["payment", "invoice"], vec!["payment", "invoice", "warehouse", "carrier"])
    }
}

fn node_systems(node: &str) -> Vec<&'static str> {
    match node {
        "payment" => vec!["payment", "invoice"],
        "invoice" => vec!["invoice"],
        "warehouse" => vec!["payment", "invoice", "warehouse"],
        "entitlement" => vec!["entitlement"],
        _ => vec!["payment", "invoice", "warehouse", "carrier", "entitlement", "notification"],
    }
}

/// The systems triggered when the exception at `node` is reported (the statuses the
/// plan reports before it start the stages up to it).
fn triggered_at(digital: bool, node: &str) -> Vec<&'static str> {
    let (first, all) = systems(digital);
    match node {
        "payment" | "invoice" | "entitlement" => first,
        "warehouse" => vec!["payment", "invoice", "warehouse"],
        _ => all,
    }
}

fn fulfilment(e: &mut Expected, plan: &Plan, fulfil: Fulfil, audit: &Audit) -> Fulfilment {
    let digital = plan.is_digital();
    let audit_rejects = matches!(audit, Audit::Reject(_) | Audit::RetryNever(_));
    let (first, all) = systems(digital);
    let (status, triggered, cancelled, recalled_for) = match fulfil {
        Fulfil::InOrder | Fulfil::OutOfOrder | Fulfil::Duplicated => ("COMPLETED", all, Vec::new(), None),
        Fulfil::Exception(node) => {
            let triggered = triggered_at(digital, node);
            // A later final audit rejection also recalls what the exception left running.
            let cancelled = if audit_rejects {
                triggered.clone()
            } else {
                triggered.iter().copied().filter(|s| node_systems(node).contains(s)).collect()
            };
            ("EXCEPTION", triggered, cancelled, None)
        }
        Fulfil::Idle => ("EXCEPTION", first.clone(), first, Some("AUDIT_REJECTED")),
    };
    let id = &plan.id;
    e.effects.insert("fulfilment.trigger", Count::Exactly(triggered.len()));
    e.effects.insert("fulfilment.cancel", Count::Exactly(cancelled.len()));
    let completed = status == "COMPLETED";
    e.effects.insert("order.fulfilment.completed", Count::Exactly(usize::from(completed)));
    e.effects.insert("order.fulfilment.exception", Count::Exactly(usize::from(!completed)));
    e.ids.extend(triggered.iter().map(|s| format!("{id}:fulfilment.trigger:{s}")));
    e.ids.extend(cancelled.iter().map(|s| format!("{id}:fulfilment.cancel:{s}")));
    let ending = if completed { "order.fulfilment.completed" } else { "order.fulfilment.exception" };
    e.ids.push(format!("{id}:{ending}"));
    Fulfilment { status, triggered, cancelled, recalled_for }
}

fn refunds(e: &mut Expected, refunds: Refunds) {
    let (statuses, reviews): (&[&'static str], usize) = match refunds {
        Refunds::None => (&[], 0),
        Refunds::AutoApproved => (&["APPROVED", "REJECTED"], 0),
        Refunds::Refused => (&["REJECTED"], 0),
        Refunds::ReviewApproved => (&["APPROVED"], 1),
        Refunds::ReviewRejected => (&["REJECTED"], 1),
        Refunds::TwoPending => (&["APPROVED", "REJECTED"], 2),
    };
    let count = |status: &str| statuses.iter().filter(|s| **s == status).count();
    e.refunds = statuses.to_vec();
    e.effects.insert("refund.review_requested", Count::Exactly(reviews));
    e.effects.insert("refund.issued", Count::Exactly(count("APPROVED")));
    e.effects.insert("entitlement.updated", Count::Exactly(count("APPROVED")));
    e.effects.insert("refund.rejected", Count::Exactly(count("REJECTED")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::plan::{Placement, Product, Risk};

    fn plan(placement: Placement, audit: Option<Audit>, fulfil: Option<Fulfil>) -> Plan {
        Plan { index: 7, id: "o-000007".into(), placement, audit, fulfil, refunds: Refunds::None, placed_twice: false }
    }

    #[test]
    fn an_exception_before_a_final_rejection_ends_with_every_triggered_system_cancelled() {
        let p = plan(
            Placement::Retail(Risk::Low),
            Some(Audit::RetryNever("STOCK_SHORTAGE".into())),
            Some(Fulfil::Exception("invoice")),
        );
        let f = expected(&p).fulfilment.unwrap();
        assert_eq!((f.triggered, f.cancelled), (vec!["payment", "invoice"], vec!["payment", "invoice"]));
        let p = Plan { audit: Some(Audit::Pass), ..p };
        assert_eq!(expected(&p).fulfilment.unwrap().cancelled, vec!["invoice"]);
    }

    #[test]
    fn orders_that_never_dispatch_expect_only_their_placement_events() {
        let e = expected(&plan(Placement::PrepaymentNever, None, None));
        assert_eq!(e.status, "CANCELLED");
        let nonzero: Vec<_> = e.effects.iter().filter(|(_, c)| **c != Count::Exactly(0)).map(|(t, _)| *t).collect();
        assert_eq!(nonzero, ["order.prepayment_requested", "order.rejected"]);
        let digital = plan(Placement::Digital(Product::Album), Some(Audit::Pass), Some(Fulfil::InOrder));
        assert_eq!(expected(&digital).fulfilment.unwrap().triggered, vec!["entitlement", "notification"]);
    }
}
