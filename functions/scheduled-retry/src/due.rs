//! One due order. A tick claims the rule with a versioned write (so overlapping ticks
//! cannot both act), sends the messages, then confirms. A tick that dies after its claim
//! leaves a claim that lapses after `claim_seconds`; the next tick redoes the same
//! action with the same message ids.

use chrono::{DateTime, Duration, Utc};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::audit::{tick_action, Claim, TickAction};
use orderflow_shared::domain::order::Order;
use orderflow_shared::domain::{earlier, later};
use orderflow_shared::error::{Error, Result, StoreError};
use orderflow_shared::order_events;
use orderflow_shared::reaudit::audit_messages;
use orderflow_shared::repo::{self, Versioned};
use orderflow_shared::transition::{self, Decision};
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

/// An order still awaiting its prepayment after `due_at` is cancelled, as a late
/// payment would have found it ([`Order::prepayment_overdue`]); one versioned write
/// through the transition helper, so a concurrent payment or tick wins or loses cleanly.
async fn expire_prepayment(deps: &Deps, stored: Versioned<Order>, now: DateTime<Utc>) -> Result<Outcome> {
    let id = stored.value.id().clone();
    // The first round decides on the order the index query already read; only a lost
    // race reads it again.
    let mut first = Some(stored);
    let load = || {
        let read = first.take();
        async {
            match read {
                Some(stored) => Ok(stored),
                None => repo::require_order(deps.store.as_ref(), &id).await,
            }
        }
    };
    let decide = |order: &mut Order| {
        let cause = order_events::PREPAYMENT_OVERDUE.to_string();
        if !order.prepayment_overdue(now) {
            return Ok(Decision::AlreadyApplied { cause });
        }
        let messages = order_events::rejected(SOURCE, order, "PREPAYMENT_OVERDUE");
        Ok(Decision::Apply { cause, messages })
    };
    match transition::apply(deps, load, decide).await? {
        transition::Outcome::Applied(_) => {
            info!(order_id = %id, "prepayment overdue; order cancelled");
            Ok(Outcome::Cancelled)
        }
        transition::Outcome::AlreadyApplied(_) => Ok(Outcome::Skipped),
    }
}

pub async fn handle(deps: &Deps, stored: Versioned<Order>, now: DateTime<Utc>) -> Result<Outcome> {
    let Some(rule) = &stored.value.audit.rule else { return expire_prepayment(deps, stored, now).await };
    let Some(action) = tick_action(rule, now) else { return Ok(Outcome::Skipped) };
    let claim = Claim { action, until: later(now, Duration::seconds(i64::from(deps.rules.audit.claim_seconds))) };
    let mut claimed = stored.value.clone();
    if let Some(rule) = claimed.audit.rule.as_mut() {
        rule.claim = Some(claim.clone());
    }
    let version = match repo::update_order(deps.store.as_ref(), &claimed, stored.version).await {
        Ok(version) => version,
        Err(Error::Store(StoreError::ConditionFailed)) => return Ok(Outcome::Skipped),
        Err(e) => return Err(e),
    };
    let mut done = act(deps, stored.value, action, now);
    deps.publish_all(done.latest_outbox()).await?;
    mark_latest_published(&mut done);
    confirm(deps, done, &claim, version).await?;
    info!(order_id = %claimed.id(), ?action, "due rule handled");
    Ok(match action {
        TickAction::Request { .. } => Outcome::Requested,
        TickAction::Expire => Outcome::Expired,
    })
}

/// The order after the action, with the action's messages in its outbox: the order
/// decides ([`Order::reaudit_requested`], [`Order::retry_window_closed`]), and the
/// messages are the same the audit-failure flow sends for the same events.
fn act(deps: &Deps, mut order: Order, action: TickAction, now: DateTime<Utc>) -> Order {
    let rules = &deps.rules.audit;
    let (cause, events) = match action {
        TickAction::Request { attempt } => (format!("tick:{attempt}"), order.reaudit_requested(rules, attempt, now)),
        TickAction::Expire => ("window-closed".to_string(), order.retry_window_closed(now)),
    };
    if !events.is_empty() {
        let messages = audit_messages(SOURCE, rules, &order, &cause, &events);
        order.emit(&cause, messages);
    }
    order
}

/// Writes the outcome over the claim. If the order changed meanwhile (an audit result
/// arrived), the outcome is applied again to the fresh order as long as it still
/// carries this tick's claim.
async fn confirm(deps: &Deps, done: Order, claim: &Claim, version: u64) -> Result<()> {
    match repo::update_order(deps.store.as_ref(), &done, version).await {
        Ok(_) => return Ok(()),
        Err(Error::Store(StoreError::ConditionFailed)) => {}
        Err(e) => return Err(e),
    }
    for _ in 0..3 {
        let Some(fresh) = repo::get_order(deps.store.as_ref(), done.id()).await? else { return Ok(()) };
        let still_ours = fresh.value.audit.rule.as_ref().and_then(|r| r.claim.as_ref()) == Some(claim);
        if !still_ours {
            return Ok(());
        }
        let mut redone = act(
            deps,
            clear_claim(fresh.value),
            claim.action,
            earlier(claim.until, Duration::seconds(i64::from(deps.rules.audit.claim_seconds))),
        );
        mark_latest_published(&mut redone);
        match repo::update_order(deps.store.as_ref(), &redone, fresh.version).await {
            Ok(_) => return Ok(()),
            Err(Error::Store(StoreError::ConditionFailed)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Store(StoreError::Backend("order kept changing while confirming a tick".into())))
}

/// The tick has sent the messages of its action before writing it.
fn mark_latest_published(order: &mut Order) {
    if let Some(cause) = order.outbox.last_cause().map(str::to_string) {
        order.outbox.mark_published(&cause);
    }
}

fn clear_claim(mut order: Order) -> Order {
    if let Some(rule) = order.audit.rule.as_mut() {
        rule.claim = None;
    }
    order
}
