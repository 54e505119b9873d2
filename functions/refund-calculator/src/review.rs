//! `POST /refunds/{refund_id}/review`: a reviewer of the role the refund was routed to
//! approves or rejects it. Idempotent on `decision_id`: the same decision answers the
//! same; any other decision on a decided refund is a conflict. An approval checks the
//! order's state and the conditions again and recomputes the refund at the time of
//! unsubscription against the order, ledger and entitlement as they are now, so an
//! order rejected by its audit meanwhile is not refunded and refunds issued meanwhile
//! are never paid twice; if they no longer hold, the refund is rejected with the reason.

use orderflow_shared::app::Deps;
use orderflow_shared::domain::ids::{DecisionId, OrderId};
use orderflow_shared::domain::policy::refund::ReviewerRole;
use orderflow_shared::domain::refund::quote;
use orderflow_shared::domain::refund_policy::{failed_conditions, order_refusal};
use orderflow_shared::edge::caller::Caller;
use orderflow_shared::error::{Error, Result};
use orderflow_shared::input::Fields;
use orderflow_shared::store::transition;
use orderflow_shared::store::Versioned;
use rust_decimal::Decimal;
use serde_json::Value;
use tracing::{info, instrument};

use crate::outbox;
use crate::refunds::{check_refund_id, issue, load_purchase, view};
use crate::store::{self, Decision, Refund, RefundStatus};

struct ReviewRequest {
    decision_id: String,
    approve: bool,
    role: ReviewerRole,
    reviewer_id: String,
}

/// The decision, by the reviewer the caller's token names (its `reviewer_role` claim and
/// subject). A body may name the reviewer too, and must then name the same one; with
/// `--auth off` locally, the body's reviewer is the reviewer.
fn parse(body: &Value, caller: &Caller) -> Result<ReviewRequest> {
    let f = Fields::root(body)?;
    let decision_id = DecisionId::parse("decision_id", f.str("decision_id")?)?.to_string();
    let approve = match f.str("decision")? {
        "APPROVE" => true,
        "REJECT" => false,
        other => return Err(Error::validation("decision", format!("{other:?} is not APPROVE or REJECT"))),
    };
    let named = match f.opt_object("reviewer")? {
        Some(reviewer) => {
            let r = reviewer.fields();
            let role = role(r.str("role")?).ok_or_else(|| {
                Error::validation(
                    r.path("role"),
                    format!("{:?} is not platform or seller", r.str("role").unwrap_or("")),
                )
            })?;
            Some((role, OrderId::parse(&r.path("id"), r.str("id")?)?.to_string()))
        }
        None => None,
    };
    let (role, reviewer_id) = match (caller.reviewer()?, named) {
        (Some((claimed, id)), named) => {
            let role = role(&claimed).ok_or_else(|| {
                Error::Forbidden(format!("the token's reviewer_role {claimed:?} is not platform or seller"))
            })?;
            if let Some((named_role, named_id)) = named {
                if named_role != role || named_id != id {
                    return Err(Error::Forbidden(format!(
                        "the body names the {} reviewer {named_id}; the token is the {} reviewer {id}",
                        named_role.as_str(),
                        role.as_str()
                    )));
                }
            }
            (role, id)
        }
        (None, Some(named)) => named,
        (None, None) => return Err(Error::validation("reviewer", "is required")),
    };
    Ok(ReviewRequest { decision_id, approve, role, reviewer_id })
}

fn role(text: &str) -> Option<ReviewerRole> {
    match text {
        "platform" => Some(ReviewerRole::Platform),
        "seller" => Some(ReviewerRole::Seller),
        _ => None,
    }
}

fn cause(decision_id: &str) -> String {
    format!("decision:{decision_id}")
}

/// `POST /refunds/{refund_id}/review`: `(status, body)`.
#[instrument(skip_all, fields(refund_id = %refund_id))]
pub async fn decide(deps: &Deps, caller: &Caller, refund_id: &str, body: &Value) -> Result<(u16, Value)> {
    let req = parse(body, caller)?;
    check_refund_id(refund_id)?;
    let req = &req;
    transition::retrying(|| async move {
        let found = store::get_refund(deps.store.as_ref(), refund_id).await?;
        let Versioned { value: mut refund, version } =
            found.ok_or_else(|| Error::NotFound { what: "refund", id: refund_id.to_string() })?;
        if let Some(done) = &refund.decision {
            return replay(done.clone(), &refund, req);
        }
        if refund.status != RefundStatus::PendingReview {
            return Err(Error::Conflict(format!("refund {refund_id} is not pending review")));
        }
        if refund.reviewer_role != Some(req.role) {
            let routed = refund.reviewer_role.map(|r| r.as_str()).unwrap_or("nobody");
            return Err(Error::Forbidden(format!("refund {refund_id} awaits a {routed} reviewer")));
        }
        caller.may_review_for_seller(refund.seller_id.as_deref())?;
        apply_decision(deps, &mut refund, version, req).await?;
        info!(refund_id, status = ?refund.status, "review decided");
        Ok((200, view(&refund)))
    })
    .await
}

async fn apply_decision(deps: &Deps, refund: &mut Refund, version: u64, req: &ReviewRequest) -> Result<u64> {
    let now = deps.clock.now();
    let cause = cause(&req.decision_id);
    refund.decision = Some(Decision {
        decision_id: req.decision_id.clone(),
        decision: if req.approve { "APPROVE" } else { "REJECT" }.into(),
        reviewer_role: req.role,
        reviewer_id: req.reviewer_id.clone(),
        decided_at: now,
    });
    if req.approve {
        let (order, scenario, purchase, ledger) = load_purchase(deps, &refund.order_id, &refund.scenario).await?;
        // The order may have changed since the request (a final audit rejection), and
        // conditions are checked again at the time of unsubscription against the
        // entitlement and ledger as they are now: a refund issued meanwhile (another
        // request on the same order) must not be paid twice.
        let at = refund.requested_at;
        let mut failed = match order_refusal(&order) {
            Some(refusal) => vec![refusal.reason.to_string()],
            None => failed_conditions(scenario, &purchase, at),
        };
        if failed.is_empty() {
            let q = quote(&deps.rules.refunds, scenario, &purchase, &ledger.value.refunded, at)?;
            if q.amount == Decimal::ZERO {
                failed.push("NOTHING_TO_REFUND".into());
            } else {
                refund.quote = Some(q);
                refund.reasons.clear();
                return issue(deps, refund, Some(version), scenario, ledger, now, &cause).await;
            }
        }
        refund.reasons = failed;
    } else {
        refund.reasons = vec!["REVIEWER_REJECTED".into()];
    }
    refund.status = RefundStatus::Rejected;
    let messages = outbox::rejected(refund, now, &cause);
    refund.emit(messages);
    store::put_refund(deps.store.as_ref(), refund, Some(version)).await
}

fn replay(done: Decision, refund: &Refund, req: &ReviewRequest) -> Result<(u16, Value)> {
    let same = done.decision_id == req.decision_id
        && (done.decision == "APPROVE") == req.approve
        && done.reviewer_role == req.role
        && done.reviewer_id == req.reviewer_id;
    if !same {
        return Err(Error::Conflict(format!(
            "refund {} was already decided by decision {}",
            refund.refund_id, done.decision_id
        )));
    }
    Ok((200, view(refund)))
}
