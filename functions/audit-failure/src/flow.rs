//! Applies one audit result to its order. The decision is pure
//! ([`orderflow_shared::domain::audit`]); this reads the order, writes the outcome with
//! a versioned put (the order's `processed` list makes a redelivery a no-op) and sends
//! the transition's messages, re-sending them when a redelivery finds the work done.

use orderflow_shared::app::Deps;
use orderflow_shared::domain::audit::{classify, on_failure, Failure, FailureDecision, Reason};
use orderflow_shared::domain::ids::OrderId;
use orderflow_shared::domain::order::{AuditStatus, Order, OrderStatus};
use orderflow_shared::error::{Error, Result, StoreError};
use orderflow_shared::ports::OutboundMessage;
use orderflow_shared::reaudit::{final_rejection, notification, order_audit_event, AuditResult};
use orderflow_shared::repo;
use serde_json::json;
use tracing::info;

const SOURCE: &str = "orderflow/audit-failure";
const ATTEMPTS: usize = 5;
/// Audit ids remembered per order; far more results than one order ever gets.
const PROCESSED_KEEP: usize = 100;

pub async fn apply(deps: &Deps, result: &AuditResult) -> Result<()> {
    let id = OrderId::parse("order_id", result.order_id())?;
    let audit_id = OrderId::parse("audit_id", result.audit_id())?.to_string();
    // Namespaced so an audit id can never collide with another transition's cause.
    let cause = format!("audit:{audit_id}");
    for _ in 0..ATTEMPTS {
        let current = repo::get_order(deps.store.as_ref(), &id).await?;
        let mut stored = current.ok_or_else(|| Error::NotFound { what: "order", id: id.to_string() })?;
        let order = &mut stored.value;
        if order.status != OrderStatus::Dispatched {
            // The middle office audits dispatched orders only: a result for any other
            // order is a mistake for a person to look at, in the dead-letter queue.
            return Err(Error::Conflict(format!(
                "order {id} is {}, not dispatched; it has no audit",
                order.status.as_str()
            )));
        }
        if order.audit.processed.contains(&audit_id) {
            info!(order_id = %id, audit_id = %cause, "audit result already applied");
            return repo::publish_pending(deps, stored.value, stored.version, &cause).await;
        }
        let messages = match result {
            AuditResult::Failed { failure, .. } => failed(deps, order, failure, &cause)?,
            AuditResult::Passed { .. } => passed(order, &cause, deps.clock.now()),
        };
        order.audit.processed.push(audit_id.clone());
        if order.audit.processed.len() > PROCESSED_KEEP {
            order.audit.processed.remove(0);
        }
        if !messages.is_empty() {
            order.emit(&cause, messages);
        }
        match repo::update_order(deps.store.as_ref(), order, stored.version).await {
            Ok(version) => {
                info!(order_id = %id, audit_id = %cause, audit_status = ?order.audit_status, "audit result applied");
                return repo::publish_pending(deps, stored.value, version, &cause).await;
            }
            Err(Error::Store(StoreError::ConditionFailed)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Store(StoreError::Backend("order kept changing under concurrent writes".into())))
}

/// DOMAIN §1 steps 3–5 on the order; returns the messages of the transition.
fn failed(deps: &Deps, order: &mut Order, failure: &Failure, cause: &str) -> Result<Vec<OutboundMessage>> {
    let rules = &deps.rules.audit;
    let now = deps.clock.now();
    // After a final outcome nothing changes, whatever the reason code says.
    if matches!(order.audit_status, Some(AuditStatus::Approved | AuditStatus::Rejected)) {
        order.record(now, "AUDIT_FAILURE_IGNORED", Some(format!("audit already final; {}", failure.audit_id)));
        return Ok(Vec::new());
    }
    let reason = classify(rules, &failure.reason_code).ok_or_else(|| {
        Error::validation(
            "reason_code",
            format!("unknown reason code {:?}; add it to [audit.reasons]", failure.reason_code),
        )
    })?;
    let decision = on_failure(rules, order.id().as_str(), order.audit_status, &order.audit, &reason, failure);
    let detail = Some(format!("{} ({})", failure.reason_code, failure.audit_id));
    Ok(match decision {
        FailureDecision::ProvisionallyAccept(rule) => {
            let Reason::Known(reason_rule) = reason else { unreachable!("only known reasons are retryable") };
            order.audit_status = Some(AuditStatus::ProvisionallyAccepted);
            order.audit.rule = Some(rule.clone());
            order.audit.first_failure = Some(failure.clone());
            order.record(now, "AUDIT_PROVISIONALLY_ACCEPTED", detail);
            let data = json!({
                "order_id": order.id(),
                "audit_status": AuditStatus::ProvisionallyAccepted,
                "reason_code": failure.reason_code,
                "retry_until": rule.window_ends_at,
            });
            vec![
                order_audit_event(SOURCE, order, "order.audit.provisionally_accepted", cause, data),
                notification(
                    order,
                    cause,
                    "provisional_acceptance",
                    &reason_rule.team,
                    &reason_rule.severity,
                    &reason_rule.template,
                    failure,
                    Some(&rule),
                ),
            ]
        }
        FailureDecision::Reject => {
            order.audit_status = Some(AuditStatus::Rejected);
            order.record(now, "AUDIT_REJECTED", detail);
            vec![final_rejection(SOURCE, order, cause, Some(failure))]
        }
        FailureDecision::KeepRule(rule) => {
            order.audit.rule = Some(rule);
            order.record(now, "AUDIT_FAILED_AGAIN", detail);
            Vec::new()
        }
        FailureDecision::Expire => {
            let rule = order.audit.rule.take();
            let first = order.audit.first_failure.clone().unwrap_or_else(|| failure.clone());
            let team = rule.as_ref().map(|r| r.team.clone()).unwrap_or_default();
            order.audit_status = Some(AuditStatus::Rejected);
            order.record(now, "AUDIT_REJECTED", Some(format!("retry window closed; {}", failure.reason_code)));
            vec![
                final_rejection(SOURCE, order, cause, Some(failure)),
                notification(
                    order,
                    cause,
                    "final_rejection",
                    &team,
                    &rules.final_severity,
                    &rules.final_template,
                    &first,
                    rule.as_ref(),
                ),
            ]
        }
        FailureDecision::AfterFinal => {
            order.record(now, "AUDIT_FAILURE_IGNORED", Some(format!("audit already final; {}", failure.audit_id)));
            Vec::new()
        }
    })
}

/// DOMAIN §1 step 7: approved; the rule is retired.
fn passed(order: &mut Order, cause: &str, now: chrono::DateTime<chrono::Utc>) -> Vec<OutboundMessage> {
    if order.audit_status == Some(AuditStatus::Approved) {
        return Vec::new();
    }
    order.audit_status = Some(AuditStatus::Approved);
    order.audit.rule = None;
    order.record(now, "AUDIT_APPROVED", Some(cause.to_string()));
    let data = json!({"order_id": order.id(), "audit_status": AuditStatus::Approved});
    vec![order_audit_event(SOURCE, order, "order.audit.approved", cause, data)]
}
