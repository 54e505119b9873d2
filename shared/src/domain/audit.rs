//! The re-audit chain (DOMAIN §1): pure decisions on audit results and schedule ticks,
//! from the order's audit state, the rules and the time.
#![deny(clippy::float_arithmetic)]

use chrono::{DateTime, Duration, Utc};

use super::later;
use serde::{Deserialize, Serialize};

use super::exception::Exception;
use super::order::AuditStatus;
use super::policy::audit::{AuditRules, Backoff, ReasonRule, UnknownReason};

/// One `audit.failed` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub audit_id: String,
    pub reason_code: String,
    pub reason: String,
    pub occurred_at: DateTime<Utc>,
}

/// The automatic re-audit rule of an order (DOMAIN §1 step 4d).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauditRule {
    pub first_failure_at: DateTime<Utc>,
    pub window_ends_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    /// Audit requests sent for the order so far, the first (failed) one included; the
    /// next request is attempt `attempts + 1`, the `attempts`-th re-audit.
    pub attempts: u32,
    /// `audit.failed` reports received.
    pub failures: u32,
    pub team: String,
}

/// What a schedule tick does with a due rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TickAction {
    /// Send audit request number `attempt`.
    Request { attempt: u32 },
    /// The window has closed: delete the rule and reject the order.
    Expire,
}

/// The audit part of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ReauditRule>,
    /// The first failure's report, for notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<Failure>,
    /// `audit_id`s already applied: a redelivery changes nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processed: Vec<String>,
    /// The exception a retryable failure opened, open or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<Exception>,
}

impl AuditState {
    /// Nothing audited yet: stored as nothing at all.
    pub fn is_empty(&self) -> bool {
        self.rule.is_none() && self.first_failure.is_none() && self.processed.is_empty() && self.exception.is_none()
    }
}

/// What to do with an `audit.failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureDecision {
    /// The audit already passed or was finally rejected: nothing changes.
    AfterFinal,
    /// First failure, retryable (§1 step 4 a–d).
    ProvisionallyAccept(ReauditRule),
    /// First failure, not retryable.
    Reject,
    /// A later failure inside the window: the rule stays, its next attempt moves on.
    KeepRule(ReauditRule),
    /// A later failure past the window: the rule is deleted and the order rejected.
    Expire,
}

/// How a reason code is classified, after the rules' handling of unknown codes.
pub enum Reason<'a> {
    Known(&'a ReasonRule),
    /// Unknown and the rules say to reject it as not retryable.
    UnknownNotRetryable,
}

/// Looks a reason code up; `None` when it is unknown and belongs in the dead-letter
/// queue.
pub fn classify<'a>(rules: &'a AuditRules, code: &str) -> Option<Reason<'a>> {
    match (rules.reasons.get(code), rules.unknown_reason) {
        (Some(rule), _) => Some(Reason::Known(rule)),
        (None, UnknownReason::NotRetryable) => Some(Reason::UnknownNotRetryable),
        (None, UnknownReason::DeadLetter) => None,
    }
}

/// DOMAIN §1 steps 3–5 for one failure report.
pub fn on_failure(
    rules: &AuditRules,
    order_id: &str,
    status: Option<AuditStatus>,
    state: &AuditState,
    reason: &Reason<'_>,
    failure: &Failure,
) -> FailureDecision {
    if matches!(status, Some(AuditStatus::Approved | AuditStatus::Rejected)) {
        return FailureDecision::AfterFinal;
    }
    let Some(rule) = &state.rule else {
        return match reason {
            Reason::Known(r) if r.retryable => {
                FailureDecision::ProvisionallyAccept(first_rule(rules, order_id, r, failure))
            }
            _ => FailureDecision::Reject,
        };
    };
    // The window is closed at its end, as the schedule sees it.
    if failure.occurred_at >= rule.window_ends_at {
        return FailureDecision::Expire;
    }
    let mut kept = rule.clone();
    kept.failures = kept.failures.saturating_add(1);
    // A late-arriving older failure never pulls the next attempt earlier.
    let moved = next_attempt_at(&rules.attempts, order_id, kept.attempts, failure.occurred_at, kept.window_ends_at);
    kept.next_attempt_at = moved.max(rule.next_attempt_at);
    FailureDecision::KeepRule(kept)
}

fn first_rule(rules: &AuditRules, order_id: &str, reason: &ReasonRule, failure: &Failure) -> ReauditRule {
    let window_ends_at = later(failure.occurred_at, Duration::minutes(i64::from(rules.retry_window_minutes)));
    ReauditRule {
        first_failure_at: failure.occurred_at,
        window_ends_at,
        next_attempt_at: next_attempt_at(&rules.attempts, order_id, 1, failure.occurred_at, window_ends_at),
        attempts: 1,
        failures: 1,
        team: reason.team.clone(),
    }
}

/// When re-audit number `attempt` (1-based) is due, counted from `from`: exponential backoff
/// with a cap and a jitter derived from the order and the attempt, so every redelivery
/// of the same decision computes the same time; never after the window's end.
pub fn next_attempt_at(
    backoff: &Backoff,
    order_id: &str,
    attempt: u32,
    from: DateTime<Utc>,
    window_ends_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let exponent = attempt.saturating_sub(1).min(32);
    let base = u64::from(backoff.first_delay_minutes)
        .saturating_mul(u64::from(backoff.multiplier).saturating_pow(exponent))
        .min(u64::from(backoff.max_delay_minutes))
        .saturating_mul(60);
    let spread = base.saturating_mul(u64::from(backoff.jitter_percent)).checked_div(100).unwrap_or(0);
    // An offset in 0..=2·spread, then shifted down by spread: a jitter of ±spread.
    let offset = stable_hash(order_id, attempt).checked_rem(spread.saturating_mul(2).saturating_add(1)).unwrap_or(0);
    let delay = base.saturating_add(offset).saturating_sub(spread).max(1);
    let delay = Duration::try_seconds(i64::try_from(delay).unwrap_or(i64::MAX)).unwrap_or(Duration::MAX);
    later(from, delay).min(window_ends_at)
}

/// FNV-1a: stable across processes and releases, unlike `DefaultHasher`.
pub fn stable_hash(text: &str, salt: u32) -> u64 {
    text.bytes()
        .chain(salt.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The shard of the due-rule index an order's rule lives in.
pub fn shard_of(order_id: &str, shards: u32) -> u32 {
    let shard = stable_hash(order_id, 0).checked_rem(u64::from(shards.max(1))).unwrap_or(0);
    u32::try_from(shard).unwrap_or(0)
}

/// What a tick at `now` should do with a rule, or `None` if it is not due.
pub fn tick_action(rule: &ReauditRule, now: DateTime<Utc>) -> Option<TickAction> {
    if now >= rule.window_ends_at {
        return Some(TickAction::Expire);
    }
    (rule.next_attempt_at <= now).then_some(TickAction::Request { attempt: rule.attempts.saturating_add(1) })
}

/// The rule after a tick has sent audit request `attempt` at `now`.
pub fn after_request(
    rules: &AuditRules,
    order_id: &str,
    rule: &ReauditRule,
    attempt: u32,
    now: DateTime<Utc>,
) -> ReauditRule {
    let mut next = rule.clone();
    next.attempts = attempt;
    next.next_attempt_at = next_attempt_at(&rules.attempts, order_id, attempt, now, rule.window_ends_at);
    next
}

/// When the index should next surface the rule: its next attempt (the window's end at
/// the latest, so an expired rule is always found).
pub fn due_at(rule: &ReauditRule) -> DateTime<Utc> {
    rule.next_attempt_at.min(rule.window_ends_at)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
#[path = "audit_tests.rs"]
mod tests;
