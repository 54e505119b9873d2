//! Applies one audit result to its order: the order decides
//! ([`Order::audit_failed`], [`Order::audit_passed`]); the one transition helper reads
//! it and writes the outcome with its messages conditionally on its version (the
//! order's `processed` list makes a redelivery a no-op); the outbox relay sends them.

use orderflow_shared::app::Deps;
use orderflow_shared::domain::ids::OrderId;
use orderflow_shared::domain::order::Order;
use orderflow_shared::error::Result;
use orderflow_shared::messages::audit::{audit_messages, AuditResult};
use orderflow_shared::store;
use orderflow_shared::store::transition::{self, Decision, Outcome};
use tracing::info;

const SOURCE: &str = "orderflow/audit-failure";

pub async fn apply(deps: &Deps, result: &AuditResult) -> Result<()> {
    let id = OrderId::parse("order_id", result.order_id())?;
    let audit_id = result.audit_id().to_string();
    // Namespaced so an audit id can never collide with another transition's cause.
    let cause = format!("audit:{audit_id}");
    let load = || store::require_order(deps.store.as_ref(), &id);
    let decide = |order: &mut Order| {
        if order.audit_seen(&audit_id) {
            return Ok(Decision::AlreadyApplied);
        }
        let now = deps.clock.now();
        let events = match result {
            AuditResult::Failed { failure, .. } => order.audit_failed(&deps.rules.audit, failure, now)?,
            AuditResult::Passed { .. } => order.audit_passed(&audit_id, now)?,
        };
        let messages = audit_messages(SOURCE, &deps.rules.audit, order, &cause, &events);
        Ok(Decision::Apply { messages })
    };
    match transition::apply(deps, load, decide).await? {
        // The record may come without the order's trace (a middle office that does not
        // pass it on): the line names the order's.
        Outcome::Applied(order) => info!(
            order_id = %id,
            trace_id = %order.trace_id(),
            audit_id = %cause,
            audit_status = ?order.audit_status,
            "audit result applied"
        ),
        Outcome::AlreadyApplied(order) => {
            info!(order_id = %id, trace_id = %order.trace_id(), audit_id = %cause, "audit result already applied")
        }
    }
    Ok(())
}
