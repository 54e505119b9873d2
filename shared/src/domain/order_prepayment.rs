//! The order's risk-check transitions (DOMAIN §2): placed (dispatched, asked for a
//! prepayment or rejected, as the risk decision says), a prepayment received, and the
//! due time passing without one. Whoever notices (the request or the schedule), the
//! order decides here.

use chrono::{DateTime, Utc};

use super::money::Money;
use super::order::{AuditStatus, NewOrder, Order, OrderStatus, PaymentRecord, Prepayment};
use super::risk::{RiskAssessment, RiskDecision};
use crate::error::{Error, Result};

/// What a prepayment did to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepaid {
    /// It was the amount due, in time: the order is dispatched.
    Dispatched,
    /// It came after the due time: the order is cancelled instead.
    Cancelled,
    /// The same prepayment was received before (a retried request).
    AlreadyPaid,
    /// The order had already been cancelled for want of it.
    AlreadyCancelled,
}

impl Order {
    /// The order `request` as placed at `now`, assessed as `risk`, in the state `decision`
    /// gives it: dispatched, awaiting its prepayment, or rejected.
    pub fn place(
        request: NewOrder,
        total: Money,
        risk: RiskAssessment,
        decision: RiskDecision,
        now: DateTime<Utc>,
    ) -> Order {
        let detail = Some(format!("risk {} (score {})", risk.level.as_str(), risk.score));
        let mut order = Order {
            request,
            total,
            status: OrderStatus::Dispatched,
            initial_status: OrderStatus::Dispatched,
            audit_status: None,
            risk,
            prepayment: None,
            prepayment_paid: None,
            history: Vec::new(),
            audit: Default::default(),
            created_at: now,
            updated_at: now,
            trace: None,
            timeline: Vec::new(),
        };
        match decision {
            RiskDecision::Dispatch => order.dispatch(now, detail),
            RiskDecision::RequirePrepayment { amount, due_at } => {
                order.status = OrderStatus::AwaitingPrepayment;
                order.prepayment = Some(Prepayment { amount: amount.amount, currency: amount.currency, due_at });
                order.record(now, "PREPAYMENT_REQUESTED", detail);
            }
            RiskDecision::Reject => {
                order.status = OrderStatus::Rejected;
                order.record(now, "REJECTED", detail);
            }
        }
        order.initial_status = order.status;
        order
    }

    /// A prepayment `payment_ref` of `amount` received at `now`. Errors: another
    /// prepayment was recorded, the order awaits none, or the amount or currency is not
    /// what is due.
    pub fn prepaid(&mut self, payment_ref: &str, amount: &Money, now: DateTime<Utc>) -> Result<Prepaid> {
        if let Some(done) = &self.prepayment_paid {
            let same =
                done.payment_ref == payment_ref && done.amount == amount.amount && done.currency == amount.currency;
            if !same {
                return Err(Error::Conflict(format!(
                    "order {} was already paid with payment_ref {}; payment_ref {payment_ref} with this body is refused",
                    self.id(),
                    done.payment_ref,
                )));
            }
            return Ok(Prepaid::AlreadyPaid);
        }
        let due = match (self.status, self.prepayment.clone()) {
            (OrderStatus::AwaitingPrepayment, Some(due)) => due,
            (OrderStatus::Cancelled, Some(_)) => return Ok(Prepaid::AlreadyCancelled),
            (other, _) => {
                return Err(Error::Conflict(format!(
                    "order {} is {}, not awaiting a prepayment",
                    self.id(),
                    other.as_str()
                )))
            }
        };
        if now > due.due_at {
            self.cancel_for_want_of_prepayment(now, format!("prepayment {payment_ref} arrived after due_at"));
            return Ok(Prepaid::Cancelled);
        }
        self.check_prepayment(amount)?;
        self.prepayment_paid = Some(PaymentRecord {
            payment_ref: payment_ref.to_string(),
            amount: amount.amount,
            currency: amount.currency,
            received_at: now,
        });
        self.dispatch(now, Some(format!("prepayment {payment_ref} received")));
        Ok(Prepaid::Dispatched)
    }

    /// The schedule found the order at `now`: cancelled if it still awaits its
    /// prepayment past the due time (`true`), else left alone.
    pub fn prepayment_overdue(&mut self, now: DateTime<Utc>) -> bool {
        let overdue = self.prepayment.as_ref().is_some_and(|p| now > p.due_at);
        if self.status != OrderStatus::AwaitingPrepayment || !overdue {
            return false;
        }
        self.cancel_for_want_of_prepayment(now, "no prepayment by due_at".into());
        true
    }

    /// The order is sent on: dispatched, its audit pending.
    pub fn dispatch(&mut self, now: DateTime<Utc>, detail: Option<String>) {
        self.status = OrderStatus::Dispatched;
        self.audit_status = Some(AuditStatus::Pending);
        self.record(now, "DISPATCHED", detail);
    }

    fn cancel_for_want_of_prepayment(&mut self, now: DateTime<Utc>, detail: String) {
        self.status = OrderStatus::Cancelled;
        self.record(now, "CANCELLED", Some(detail));
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
#[path = "order_prepayment_tests.rs"]
mod tests;
