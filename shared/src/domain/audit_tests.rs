use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::domain::policy::Rules;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn failure(id: &str, code: &str, at: DateTime<Utc>) -> Failure {
    Failure { audit_id: id.into(), reason_code: code.into(), reason: "x".into(), occurred_at: at }
}

fn decide(state: &AuditState, status: Option<AuditStatus>, f: &Failure) -> FailureDecision {
    let rules = Rules::defaults();
    let reason = classify(&rules.audit, &f.reason_code).expect("known code");
    on_failure(&rules.audit, "o-1", status, state, &reason, f)
}

#[test]
fn first_retryable_failure_creates_a_rule_with_the_window() {
    let f = failure("a1", "STOCK_SHORTAGE", t0());
    let FailureDecision::ProvisionallyAccept(rule) = decide(&AuditState::default(), Some(AuditStatus::Pending), &f)
    else {
        panic!("expected provisional acceptance");
    };
    assert_eq!(rule.window_ends_at, t0() + Duration::hours(24));
    assert!(rule.next_attempt_at > t0() && rule.next_attempt_at < t0() + Duration::minutes(6));
    assert_eq!((rule.attempts, rule.failures, rule.team.as_str()), (1, 1, "inventory"));
}

#[test]
fn first_non_retryable_failure_rejects() {
    let f = failure("a1", "PRICE_MISMATCH", t0());
    assert_eq!(decide(&AuditState::default(), Some(AuditStatus::Pending), &f), FailureDecision::Reject);
}

#[test]
fn later_failures_keep_the_rule_inside_the_window_and_expire_it_after() {
    let f = failure("a1", "STOCK_SHORTAGE", t0());
    let FailureDecision::ProvisionallyAccept(rule) = decide(&AuditState::default(), None, &f) else { panic!() };
    let state = AuditState { rule: Some(rule), ..AuditState::default() };
    let inside = failure("a2", "STOCK_SHORTAGE", t0() + Duration::hours(3));
    match decide(&state, Some(AuditStatus::ProvisionallyAccepted), &inside) {
        FailureDecision::KeepRule(kept) => {
            assert_eq!(kept.failures, 2);
            assert!(kept.next_attempt_at > inside.occurred_at);
        }
        other => panic!("expected the rule kept, got {other:?}"),
    }
    let past = failure("a3", "STOCK_SHORTAGE", t0() + Duration::hours(25));
    assert_eq!(decide(&state, Some(AuditStatus::ProvisionallyAccepted), &past), FailureDecision::Expire);
}

#[test]
fn failures_after_a_final_outcome_change_nothing() {
    let f = failure("a9", "STOCK_SHORTAGE", t0());
    assert_eq!(decide(&AuditState::default(), Some(AuditStatus::Approved), &f), FailureDecision::AfterFinal);
    assert_eq!(decide(&AuditState::default(), Some(AuditStatus::Rejected), &f), FailureDecision::AfterFinal);
}

#[test]
fn unknown_reason_codes_follow_the_rules() {
    let mut rules = Rules::defaults();
    assert!(classify(&rules.audit, "NEW_CODE").is_none());
    rules.audit.unknown_reason = crate::domain::policy::audit::UnknownReason::NotRetryable;
    assert!(matches!(classify(&rules.audit, "NEW_CODE"), Some(Reason::UnknownNotRetryable)));
}

#[test]
fn ticks_request_when_due_and_expire_after_the_window() {
    let rules = Rules::defaults();
    let f = failure("a1", "STOCK_SHORTAGE", t0());
    let FailureDecision::ProvisionallyAccept(rule) = decide(&AuditState::default(), None, &f) else { panic!() };
    assert_eq!(tick_action(&rule, t0()), None);
    let due = rule.next_attempt_at;
    assert_eq!(tick_action(&rule, due), Some(TickAction::Request { attempt: 2 }));
    let advanced = after_request(&rules.audit, "o-1", &rule, 2, due);
    assert_eq!(advanced.attempts, 2);
    // The request moved the rule on: the same tick finds nothing more to do.
    assert_eq!(tick_action(&advanced, due), None);
    assert!(advanced.next_attempt_at > due);
    assert_eq!(tick_action(&advanced, rule.window_ends_at), Some(TickAction::Expire));
}

#[test]
fn a_failure_at_the_window_end_is_past_it() {
    let f = failure("a1", "STOCK_SHORTAGE", t0());
    let FailureDecision::ProvisionallyAccept(rule) = decide(&AuditState::default(), None, &f) else { panic!() };
    let at_end = failure("a2", "STOCK_SHORTAGE", rule.window_ends_at);
    let state = AuditState { rule: Some(rule), ..AuditState::default() };
    assert_eq!(decide(&state, Some(AuditStatus::ProvisionallyAccepted), &at_end), FailureDecision::Expire);
}

#[test]
fn an_older_failure_arriving_late_never_pulls_the_next_attempt_earlier() {
    let f = failure("a1", "STOCK_SHORTAGE", t0() + Duration::hours(2));
    let FailureDecision::ProvisionallyAccept(rule) = decide(&AuditState::default(), None, &f) else { panic!() };
    let older = failure("a0", "STOCK_SHORTAGE", t0());
    let state = AuditState { rule: Some(rule.clone()), ..AuditState::default() };
    let FailureDecision::KeepRule(kept) = decide(&state, Some(AuditStatus::ProvisionallyAccepted), &older) else {
        panic!()
    };
    assert!(kept.next_attempt_at >= rule.next_attempt_at);
}

#[test]
fn a_rule_found_past_its_window_expires_whatever_attempt_was_due() {
    let f = failure("a1", "STOCK_SHORTAGE", t0());
    let FailureDecision::ProvisionallyAccept(rule) = decide(&AuditState::default(), None, &f) else { panic!() };
    assert_eq!(tick_action(&rule, rule.window_ends_at), Some(TickAction::Expire));
}

proptest! {
    /// Attempts never go backwards in time, never pass the window and stay within the
    /// jittered cap; the same inputs give the same time.
    #[test]
    fn attempt_times_are_bounded_and_stable(attempt in 1u32..40, order in "[a-z0-9-]{1,12}") {
        let rules = Rules::defaults();
        let end = t0() + Duration::hours(24);
        let at = next_attempt_at(&rules.audit.attempts, &order, attempt, t0(), end);
        prop_assert!(at > t0());
        prop_assert!(at <= end);
        prop_assert!(at <= t0() + Duration::minutes(240 * 11 / 10));
        prop_assert_eq!(at, next_attempt_at(&rules.audit.attempts, &order, attempt, t0(), end));
    }
}
