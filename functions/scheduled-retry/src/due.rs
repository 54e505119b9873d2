//! One due order, one conditional write. The order decides what the tick does
//! ([`tick_action`], [`Order::reaudit_requested`], [`Order::retry_window_closed`],
//! [`Order::prepayment_overdue`]); the transition helper writes the outcome with its
//! messages conditionally on the version the index query read. Of overlapping ticks
//! only one write wins; the others find the order moved on and skip it. A tick that
//! dies before its write leaves the order due for the next tick; one that dies after
//! it has done its work, and the outbox relay sends the messages.

use chrono::{DateTime, Utc};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::audit::{tick_action, TickAction};
use orderflow_shared::domain::order::Order;
use orderflow_shared::error::Result;
use orderflow_shared::messages;
use orderflow_shared::messages::audit::audit_messages;
use orderflow_shared::store::transition::{self, Decision};
use orderflow_shared::store::{self, Versioned};
use tracing::info;

const SOURCE: &str = "orderflow/scheduled-retry";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Requested,
    Expired,
    /// An order whose prepayment never came was cancelled.
    Cancelled,
    Skipped,
}

/// What the tick did to the order, decided on the order as read.
#[derive(Debug, Clone, Copy)]
enum Act {
    Audit(TickAction),
    CancelUnpaid,
}

/// Acts on one order the due index surfaced at `now`.
pub async fn handle(deps: &Deps, stored: Versioned<Order>, now: DateTime<Utc>) -> Result<Outcome> {
    let id = stored.value.id().clone();
    // The first round decides on the order the index query already read; only a lost
    // race reads it again.
    let mut first = Some(stored);
    let load = || {
        let read = first.take();
        async {
            match read {
                Some(stored) => Ok(stored),
                None => store::require_order(deps.store.as_ref(), &id).await,
            }
        }
    };
    let mut done = None;
    let decide = |order: &mut Order| {
        done = None;
        let Some(rule) = &order.audit.rule else {
            if !order.prepayment_overdue(now) {
                return Ok(Decision::AlreadyApplied);
            }
            done = Some(Act::CancelUnpaid);
            return Ok(Decision::Apply { messages: messages::order::rejected(SOURCE, order, "PREPAYMENT_OVERDUE") });
        };
        let Some(action) = tick_action(rule, now) else { return Ok(Decision::AlreadyApplied) };
        done = Some(Act::Audit(action));
        let rules = &deps.rules.audit;
        let (cause, events) = match action {
            TickAction::Request { attempt } => {
                (format!("tick:{attempt}"), order.reaudit_requested(rules, attempt, now))
            }
            TickAction::Expire => ("window-closed".to_string(), order.retry_window_closed(now)),
        };
        Ok(Decision::Apply { messages: audit_messages(SOURCE, rules, order, &cause, &events) })
    };
    let outcome = transition::apply(deps, load, decide).await?;
    let act = match (outcome, done) {
        (transition::Outcome::Applied(_), Some(act)) => act,
        _ => return Ok(Outcome::Skipped),
    };
    info!(order_id = %id, ?act, "due order handled");
    Ok(match act {
        Act::Audit(TickAction::Request { .. }) => Outcome::Requested,
        Act::Audit(TickAction::Expire) => Outcome::Expired,
        Act::CancelUnpaid => Outcome::Cancelled,
    })
}
