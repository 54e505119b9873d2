//! The timeline of a wave of orders, and what each order does in each round. Rounds
//! are separated by a settle (and some by hours of schedule ticks), so an order's
//! causes that must not overtake each other never share a round; within a round the
//! orders' steps are interleaved at random.

use super::expect::audit_id;
use super::plan::{Audit, Fulfil, Placement, Plan, Refunds};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Round {
    Place,
    Pay,
    FirstAudit,
    Second,
    Third,
    Fourth,
    Fifth,
    /// A day later: prepayments past due, reports after fulfilment ended.
    Late,
}

/// Every round, with how long the clock then moves on (the schedule ticking).
pub const ROUNDS: [(Round, i64); 8] = [
    (Round::Place, 0),
    (Round::Pay, 0),
    (Round::FirstAudit, 30 * 60),
    (Round::Second, 60 * 60),
    (Round::Third, 60 * 60),
    (Round::Fourth, 0),
    // Past the one-day prepayment due time and retry window.
    (Round::Fifth, 25 * 3600),
    (Round::Late, 0),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Place,
    /// The same placement again: answered with its first result.
    PlaceAgain,
    Pay,
    /// After the due time: refused.
    PayLate,
    /// An audit result (a failure when it has a reason), published by the middle office.
    Audit {
        audit_id: String,
        reason: Option<String>,
    },
    Status {
        system: &'static str,
        status: &'static str,
        answer: u16,
    },
    Refund {
        request: usize,
        status: &'static str,
    },
    Review {
        request: usize,
        approve: bool,
        status: &'static str,
    },
}

/// What `plan` does in `round`, in order.
pub fn steps(plan: &Plan, round: Round) -> Vec<Step> {
    let mut steps = Vec::new();
    match round {
        Round::Place => steps.push(Step::Place),
        Round::Pay if plan.pays_prepayment() => steps.extend([Step::Pay, Step::Pay]),
        Round::FirstAudit if plan.placed_twice => steps.push(Step::PlaceAgain),
        Round::Late if plan.placement == Placement::PrepaymentLate => steps.push(Step::PayLate),
        _ => {}
    }
    if let (Some(audit), Some(fulfil)) = (&plan.audit, plan.fulfil) {
        steps.extend(audit_steps(plan, audit, round));
        steps.extend(status_steps(plan, fulfil, round));
        steps.extend(refund_steps(plan.refunds, round));
    }
    steps
}

fn audit_steps(plan: &Plan, audit: &Audit, round: Round) -> Vec<Step> {
    let result =
        |n: &str, reason: Option<&String>| Step::Audit { audit_id: audit_id(plan, n), reason: reason.cloned() };
    match (audit, round) {
        (Audit::Pass | Audit::PassThenLateFailure(_), Round::FirstAudit) => vec![result("1", None)],
        (Audit::RetryThenPass(r) | Audit::RetryNever(r) | Audit::Reject(r), Round::FirstAudit) => {
            vec![result("1", Some(r))]
        }
        // Two failures at once, the first of them delivered twice.
        (Audit::RetryTwiceThenPass(r), Round::FirstAudit) => {
            vec![result("1", Some(r)), result("2", Some(r)), result("1", Some(r))]
        }
        (Audit::RetryTwiceThenPass(r), Round::Second) => vec![result("3", Some(r))],
        (Audit::PassThenLateFailure(r), Round::Second) => vec![result("2", Some(r))],
        (Audit::RetryThenPass(_) | Audit::RetryTwiceThenPass(_), Round::Third) => vec![result("p", None)],
        _ => Vec::new(),
    }
}

/// `(system, status)` reported in each of the rounds Second, Third and Fourth.
fn reports(digital: bool, fulfil: Fulfil) -> Vec<Vec<(&'static str, &'static str)>> {
    let (p, i, w, c) = (("payment", "DONE"), ("invoice", "DONE"), ("warehouse", "DONE"), ("carrier", "DELIVERED"));
    let (e, n) = (("entitlement", "DONE"), ("notification", "COMPLETED"));
    match (digital, fulfil) {
        (false, Fulfil::InOrder) => vec![vec![p, i], vec![w], vec![c]],
        (true, Fulfil::InOrder) => vec![vec![e], vec![n]],
        // The end first, the status that starts the chain last.
        (false, Fulfil::OutOfOrder) => vec![vec![i, c, w, p]],
        (true, Fulfil::OutOfOrder) => vec![vec![n, e]],
        (false, Fulfil::Duplicated) => vec![vec![p, p, i, i], vec![w, w, p], vec![c, c, i]],
        (true, Fulfil::Duplicated) => vec![vec![e, e], vec![n, n, e]],
        (_, Fulfil::Exception(node)) => {
            let failed = (node, "FAILED");
            match node {
                "warehouse" => vec![vec![p], vec![failed]],
                "carrier" => vec![vec![p], vec![w], vec![failed]],
                "notification" => vec![vec![e], vec![failed]],
                _ => vec![vec![failed]],
            }
        }
        (_, Fulfil::Idle) => Vec::new(),
    }
}

fn status_steps(plan: &Plan, fulfil: Fulfil, round: Round) -> Vec<Step> {
    let digital = plan.is_digital();
    let reported = |(system, status): (&'static str, &'static str)| Step::Status { system, status, answer: 202 };
    let index = match round {
        Round::Second => 0,
        Round::Third => 1,
        Round::Fourth => 2,
        _ => usize::MAX,
    };
    if let Some(reports) = reports(digital, fulfil).into_iter().nth(index) {
        return reports.into_iter().map(reported).collect();
    }
    let end = if digital { ("notification", "COMPLETED") } else { ("carrier", "DELIVERED") };
    let over = matches!(fulfil, Fulfil::Exception(_) | Fulfil::Idle);
    let late = round == Round::Late || (round == Round::Second && matches!(plan.audit, Some(Audit::Reject(_))));
    match (late, over) {
        // A report the ended fulfilment has not seen is refused; one it has, accepted.
        (true, true) => vec![Step::Status { system: end.0, status: end.1, answer: 409 }],
        (true, false) => vec![reported(end)],
        (false, _) => Vec::new(),
    }
}

fn refund_steps(refunds: Refunds, round: Round) -> Vec<Step> {
    let request = |request, status| Step::Refund { request, status };
    let review = |request, approve, status| Step::Review { request, approve, status };
    match (refunds, round) {
        (Refunds::AutoApproved, Round::Third) => vec![request(0, "APPROVED")],
        (Refunds::AutoApproved, Round::Fourth) => vec![request(1, "REJECTED")],
        (Refunds::Refused, Round::Third) => vec![request(0, "REJECTED")],
        (Refunds::ReviewApproved | Refunds::ReviewRejected, Round::Third) => vec![request(0, "PENDING_REVIEW")],
        (Refunds::TwoPending, Round::Third) => vec![request(0, "PENDING_REVIEW"), request(1, "PENDING_REVIEW")],
        (Refunds::ReviewApproved | Refunds::TwoPending, Round::Fourth) => vec![review(0, true, "APPROVED")],
        (Refunds::ReviewRejected, Round::Fourth) => vec![review(0, false, "REJECTED")],
        // The same decision again answers the same.
        (Refunds::ReviewApproved, Round::Fifth) => vec![review(0, true, "APPROVED")],
        (Refunds::TwoPending, Round::Fifth) => vec![review(1, true, "REJECTED")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::plan::Risk;

    fn retail(audit: Audit, fulfil: Fulfil) -> Plan {
        let placement = Placement::Retail(Risk::Low);
        Plan {
            index: 1,
            id: "o-000001".into(),
            placement,
            audit: Some(audit),
            fulfil: Some(fulfil),
            refunds: Refunds::None,
            placed_twice: false,
        }
    }

    #[test]
    fn an_order_rejected_by_its_audit_has_a_report_refused_the_round_after() {
        let plan = retail(Audit::Reject("PRICE_MISMATCH".into()), Fulfil::Idle);
        let second = steps(&plan, Round::Second);
        assert_eq!(second, [Step::Status { system: "carrier", status: "DELIVERED", answer: 409 }]);
    }

    #[test]
    fn out_of_order_statuses_start_the_chain_last() {
        let plan = retail(Audit::Pass, Fulfil::OutOfOrder);
        let second = steps(&plan, Round::Second);
        assert_eq!(second.last(), Some(&Step::Status { system: "payment", status: "DONE", answer: 202 }));
        assert_eq!(steps(&plan, Round::Third), []);
    }
}
