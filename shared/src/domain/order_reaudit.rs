//! A re-audit on request (DOMAIN §1 step 7): the docking person fixed the cause of an
//! open exception and asks the middle office to audit the order again now. The next
//! attempt's `audit.requested` goes out at once and the rule's schedule moves on from
//! there, as after a scheduled attempt. A request id is answered the same every time.

use chrono::{DateTime, SecondsFormat, Utc};

use super::audit::{after_request, tick_action, TickAction};
use super::exception::{ExceptionState, ReauditAsk, ReauditRequest, MAX_REAUDITS};
use super::order::Order;
use super::order_audit::AuditEvent;
use super::policy::audit::AuditRules;
use crate::error::{Error, Result};

/// What a re-audit request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaudit {
    /// Re-audit number `request.attempt` is asked for now; `events` are announced.
    Requested { request: ReauditRequest, events: Vec<AuditEvent> },
    /// The same request was made before: what it did then.
    AlreadyRequested(ReauditRequest),
}

impl Order {
    /// A docking person's re-audit request at `now`. `409` for an order without an open
    /// exception (none, or closed), a retry window already over, or a request id used
    /// before with another note.
    pub fn reaudit_on_request(&mut self, rules: &AuditRules, ask: &ReauditAsk, now: DateTime<Utc>) -> Result<Reaudit> {
        let Some(exception) = &self.audit.exception else { return Err(self.no_open_exception()) };
        if let Some(seen) = exception.request(&ask.request_id) {
            if seen.note != ask.note {
                return Err(Error::Conflict(format!(
                    "request_id {} was already used for another re-audit request of order {}",
                    ask.request_id,
                    self.id()
                )));
            }
            return Ok(Reaudit::AlreadyRequested(seen.clone()));
        }
        let rule = match (&self.audit.rule, exception.state()) {
            (Some(rule), ExceptionState::Open) => rule.clone(),
            _ => return Err(self.no_open_exception()),
        };
        if exception.reaudits.len() >= MAX_REAUDITS {
            return Err(Error::Conflict(format!("order {} had {MAX_REAUDITS} re-audit requests already", self.id())));
        }
        if tick_action(&rule, now) == Some(TickAction::Expire) {
            let end = rule.window_ends_at.to_rfc3339_opts(SecondsFormat::Secs, true);
            return Err(Error::Conflict(format!("the retry window of order {} closed at {end}", self.id())));
        }
        let attempt = rule.attempts.saturating_add(1);
        self.audit.rule = Some(after_request(rules, self.id().as_str(), &rule, attempt, now));
        let request = ReauditRequest {
            request_id: ask.request_id.clone(),
            note: ask.note.clone(),
            by: ask.by.clone(),
            attempt,
            at: now,
        };
        if let Some(exception) = &mut self.audit.exception {
            exception.reaudits.push(request.clone());
        }
        let detail = format!("attempt {attempt}, asked by {} ({})", ask.by, ask.request_id);
        self.record(now, "REAUDIT_REQUESTED", Some(detail));
        Ok(Reaudit::Requested { request, events: vec![AuditEvent::ReauditRequested { attempt }] })
    }

    fn no_open_exception(&self) -> Error {
        Error::Conflict(format!("order {} has no open audit exception", self.id()))
    }
}

#[cfg(test)]
#[path = "order_reaudit_tests.rs"]
mod tests;
