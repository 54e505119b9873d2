//! The order's audit transitions (DOMAIN §1), one method per cause: an `audit.failed`,
//! an `audit.passed`, a re-audit sent by the schedule, the retry window closing. Each
//! takes the facts and the time, changes the order and returns what happened; the flows
//! load the order, call one of these, turn the events into messages
//! (`messages::audit::audit_messages`) and save. Each rule is decided here and nowhere
//! else, including what a cause does after the audit is final: nothing (final stays
//! final).

use chrono::{DateTime, Utc};

use super::audit::{after_request, classify, on_failure, Failure, FailureDecision, Reason, ReauditRule};
use super::exception::Exception;
use super::order::{AuditStatus, Order, OrderStatus};
use super::policy::audit::AuditRules;
use crate::error::{Error, Result};

/// What an audit transition did, for the messages it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// A first, retryable failure: the order is provisionally accepted and a re-audit
    /// rule created; the docking team is told.
    ProvisionallyAccepted { failure: Failure, rule: ReauditRule, team: String, severity: String, template: String },
    /// A failure that is not retryable: rejected for good.
    Rejected { failure: Failure },
    /// The retry window closed, noticed by a failure arriving after it or by the schedule:
    /// rejected for good; the docking team is told about the first failure.
    WindowClosed { failure: Option<Failure>, first: Option<Failure>, rule: Option<ReauditRule> },
    /// The audit passed.
    Approved,
    /// The schedule asked the middle office for re-audit number `attempt`.
    ReauditRequested { attempt: u32 },
}

/// How many audit ids an order remembers; far more results than one order ever gets.
const PROCESSED_KEEP: usize = 100;

impl Order {
    /// Whether the audit result `audit_id` was already applied (a redelivery).
    pub fn audit_seen(&self, audit_id: &str) -> bool {
        self.audit.processed.iter().any(|a| a == audit_id)
    }

    fn audit_final(&self) -> bool {
        matches!(self.audit_status, Some(AuditStatus::Approved | AuditStatus::Rejected))
    }

    /// The middle office audits dispatched orders only: a result for another order is
    /// a mistake for a person to look at (the dead-letter queue).
    fn check_audited(&self) -> Result<()> {
        if self.status == OrderStatus::Dispatched {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "order {} is {}, not dispatched; it has no audit",
            self.id(),
            self.status.as_str()
        )))
    }

    fn remember_audit(&mut self, audit_id: &str) {
        self.audit.processed.push(audit_id.to_string());
        if self.audit.processed.len() > PROCESSED_KEEP {
            self.audit.processed.remove(0);
        }
    }

    /// DOMAIN §1 steps 3–5: an `audit.failed` at `now`. An error for an order that is not
    /// dispatched, or a reason code the rules send to the dead-letter queue.
    pub fn audit_failed(
        &mut self,
        rules: &AuditRules,
        failure: &Failure,
        now: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>> {
        self.check_audited()?;
        if self.audit_final() {
            self.remember_audit(&failure.audit_id);
            self.record(now, "AUDIT_FAILURE_IGNORED", Some(format!("audit already final; {}", failure.audit_id)));
            return Ok(Vec::new());
        }
        let reason = classify(rules, &failure.reason_code).ok_or_else(|| {
            Error::validation(
                "reason_code",
                format!("unknown reason code {:?}; add it to [audit.reasons]", failure.reason_code),
            )
        })?;
        self.remember_audit(&failure.audit_id);
        let detail = Some(format!("{} ({})", failure.reason_code, failure.audit_id));
        let events = match on_failure(rules, self.id().as_str(), self.audit_status, &self.audit, &reason, failure) {
            FailureDecision::ProvisionallyAccept(rule) if rule.window_ends_at <= now => {
                // Reported so late that its whole retry window has passed: there is
                // nothing left to retry, so it is rejected at once.
                self.audit.first_failure = Some(failure.clone());
                self.close_window(now, Some(failure), Some(rule), "retry window already closed")
            }
            FailureDecision::ProvisionallyAccept(rule) => {
                let Reason::Known(reason) = reason else {
                    return Err(Error::validation("reason_code", "is not retryable"));
                };
                self.audit_status = Some(AuditStatus::ProvisionallyAccepted);
                self.audit.rule = Some(rule.clone());
                self.audit.first_failure = Some(failure.clone());
                self.audit.exception = Some(Exception::open(&reason.team, now));
                self.record(now, "AUDIT_PROVISIONALLY_ACCEPTED", detail);
                vec![AuditEvent::ProvisionallyAccepted {
                    failure: failure.clone(),
                    rule,
                    team: reason.team.clone(),
                    severity: reason.severity.clone(),
                    template: reason.template.clone(),
                }]
            }
            FailureDecision::Reject => {
                self.audit_status = Some(AuditStatus::Rejected);
                self.record(now, "AUDIT_REJECTED", detail);
                vec![AuditEvent::Rejected { failure: failure.clone() }]
            }
            FailureDecision::KeepRule(rule) => {
                self.audit.rule = Some(rule);
                self.record(now, "AUDIT_FAILED_AGAIN", detail);
                Vec::new()
            }
            FailureDecision::Expire => {
                let rule = self.audit.rule.take();
                self.close_window(now, Some(failure), rule, &format!("retry window closed; {}", failure.reason_code))
            }
            FailureDecision::AfterFinal => Vec::new(),
        };
        Ok(events)
    }

    /// DOMAIN §1 step 7: an `audit.passed`. The rule is retired. After a final rejection
    /// the pass is only recorded: final stays final.
    pub fn audit_passed(&mut self, audit_id: &str, now: DateTime<Utc>) -> Result<Vec<AuditEvent>> {
        self.check_audited()?;
        self.remember_audit(audit_id);
        match self.audit_status {
            Some(AuditStatus::Approved | AuditStatus::Rejected) => {
                self.record(now, "AUDIT_PASS_IGNORED", Some(format!("audit already final; {audit_id}")));
                Ok(Vec::new())
            }
            _ => {
                self.audit_status = Some(AuditStatus::Approved);
                let rule = self.audit.rule.take();
                if let Some(exception) = &mut self.audit.exception {
                    exception.close(now, rule);
                }
                self.record(now, "AUDIT_APPROVED", Some(format!("audit:{audit_id}")));
                Ok(vec![AuditEvent::Approved])
            }
        }
    }

    /// The schedule sent re-audit request `attempt` at `now`: the rule moves to its next
    /// attempt. Nothing happens to an order without a rule.
    pub fn reaudit_requested(&mut self, rules: &AuditRules, attempt: u32, now: DateTime<Utc>) -> Vec<AuditEvent> {
        let Some(rule) = self.audit.rule.clone() else { return Vec::new() };
        self.audit.rule = Some(after_request(rules, self.id().as_str(), &rule, attempt, now));
        self.record(now, "REAUDIT_REQUESTED", Some(format!("attempt {attempt}")));
        vec![AuditEvent::ReauditRequested { attempt }]
    }

    /// The schedule found the retry window closed: the rule is deleted and the order
    /// rejected. Nothing happens to an order without a rule.
    pub fn retry_window_closed(&mut self, now: DateTime<Utc>) -> Vec<AuditEvent> {
        let Some(rule) = self.audit.rule.take() else { return Vec::new() };
        self.close_window(now, None, Some(rule), "retry window closed")
    }

    /// The one place the window closes, whoever noticed.
    fn close_window(
        &mut self,
        now: DateTime<Utc>,
        failure: Option<&Failure>,
        rule: Option<ReauditRule>,
        detail: &str,
    ) -> Vec<AuditEvent> {
        self.audit.rule = None;
        self.audit_status = Some(AuditStatus::Rejected);
        // A failure reported after its whole window had an exception only for this moment.
        if let (None, Some(r)) = (&self.audit.exception, &rule) {
            self.audit.exception = Some(Exception::open(&r.team, now));
        }
        if let Some(exception) = &mut self.audit.exception {
            exception.close(now, rule.clone());
        }
        self.record(now, "AUDIT_REJECTED", Some(detail.to_string()));
        vec![AuditEvent::WindowClosed { failure: failure.cloned(), first: self.audit.first_failure.clone(), rule }]
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
#[path = "order_audit_tests.rs"]
mod tests;
