use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::audit::tick_action;
use crate::domain::audit::TickAction;
use crate::domain::policy::Rules;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn order(status: &str) -> Order {
    crate::domain::test_orders::order(serde_json::json!({"status": status, "initial_status": status}))
}

fn failure(id: &str, code: &str, at: DateTime<Utc>) -> Failure {
    Failure { audit_id: id.into(), reason_code: code.into(), reason: "x".into(), occurred_at: at }
}

fn rules() -> crate::domain::policy::audit::AuditRules {
    Rules::defaults().audit
}

#[test]
fn a_first_retryable_failure_provisionally_accepts_and_creates_the_rule() {
    let mut o = order("DISPATCHED");
    let events = o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0()).unwrap();
    assert!(matches!(&events[..], [AuditEvent::ProvisionallyAccepted { team, .. }] if team == "inventory"));
    assert_eq!(o.audit_status, Some(AuditStatus::ProvisionallyAccepted));
    assert_eq!(o.audit.rule.as_ref().unwrap().window_ends_at, t0() + Duration::hours(24));
    assert!(o.audit_seen("a1"));
}

#[test]
fn a_failure_that_is_not_retryable_rejects_at_once() {
    let mut o = order("DISPATCHED");
    let events = o.audit_failed(&rules(), &failure("a1", "PRICE_MISMATCH", t0()), t0()).unwrap();
    assert!(matches!(&events[..], [AuditEvent::Rejected { .. }]));
    assert_eq!(o.audit_status, Some(AuditStatus::Rejected));
}

#[test]
fn a_first_failure_reported_after_its_window_is_rejected_at_once() {
    let mut o = order("DISPATCHED");
    let now = t0() + Duration::hours(25);
    let events = o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), now).unwrap();
    assert!(matches!(&events[..], [AuditEvent::WindowClosed { failure: Some(_), first: Some(_), .. }]), "{events:?}");
    assert_eq!((o.audit_status, o.audit.rule.is_none()), (Some(AuditStatus::Rejected), true));
}

#[test]
fn a_later_failure_inside_the_window_keeps_the_rule_and_announces_nothing() {
    let mut o = order("DISPATCHED");
    o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0()).unwrap();
    let later = t0() + Duration::hours(2);
    let events = o.audit_failed(&rules(), &failure("a2", "STOCK_SHORTAGE", later), later).unwrap();
    assert!(events.is_empty());
    assert_eq!(o.audit.rule.as_ref().unwrap().failures, 2);
}

#[test]
fn a_later_failure_past_the_window_closes_it() {
    let mut o = order("DISPATCHED");
    o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0()).unwrap();
    let late = t0() + Duration::hours(30);
    let events = o.audit_failed(&rules(), &failure("a2", "STOCK_SHORTAGE", late), late).unwrap();
    let [AuditEvent::WindowClosed { failure, first, rule }] = &events[..] else { panic!("{events:?}") };
    assert_eq!((failure.as_ref().unwrap().audit_id.as_str(), first.as_ref().unwrap().audit_id.as_str()), ("a2", "a1"));
    assert!(rule.is_some());
    assert_eq!(o.audit_status, Some(AuditStatus::Rejected));
}

#[test]
fn a_pass_approves_and_retires_the_rule() {
    let mut o = order("DISPATCHED");
    o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0()).unwrap();
    let events = o.audit_passed("a2", t0() + Duration::minutes(20)).unwrap();
    assert_eq!(events, [AuditEvent::Approved]);
    assert_eq!((o.audit_status, o.audit.rule.is_none()), (Some(AuditStatus::Approved), true));
}

#[test]
fn after_a_final_rejection_a_pass_or_a_failure_is_recorded_and_changes_nothing() {
    let mut o = order("DISPATCHED");
    o.audit_failed(&rules(), &failure("a1", "PRICE_MISMATCH", t0()), t0()).unwrap();
    assert!(o.audit_passed("a2", t0()).unwrap().is_empty());
    assert!(o.audit_failed(&rules(), &failure("a3", "STOCK_SHORTAGE", t0()), t0()).unwrap().is_empty());
    assert_eq!(o.audit_status, Some(AuditStatus::Rejected));
    assert!(o.audit_seen("a2") && o.audit_seen("a3"));
    let last: Vec<&str> = o.history.iter().rev().take(2).map(|h| h.event.as_str()).collect();
    assert_eq!(last, ["AUDIT_FAILURE_IGNORED", "AUDIT_PASS_IGNORED"]);
}

#[test]
fn results_for_an_order_that_was_not_dispatched_are_refused() {
    for status in ["AWAITING_PREPAYMENT", "REJECTED", "CANCELLED"] {
        let mut o = order(status);
        assert!(matches!(o.audit_passed("a1", t0()), Err(Error::Conflict(_))), "{status}");
        let err = o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0());
        assert!(matches!(err, Err(Error::Conflict(_))), "{status}");
    }
}

#[test]
fn an_unknown_reason_code_is_an_error_and_changes_nothing() {
    let mut o = order("DISPATCHED");
    let before = o.clone();
    assert!(o.audit_failed(&rules(), &failure("a1", "MOON_PHASE", t0()), t0()).is_err());
    assert_eq!(o, before);
}

#[test]
fn a_reaudit_request_moves_the_rule_to_its_next_attempt() {
    let mut o = order("DISPATCHED");
    o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0()).unwrap();
    let due = o.audit.rule.as_ref().unwrap().next_attempt_at;
    let Some(TickAction::Request { attempt }) = tick_action(o.audit.rule.as_ref().unwrap(), due) else { panic!() };
    let events = o.reaudit_requested(&rules(), attempt, due);
    assert_eq!(events, [AuditEvent::ReauditRequested { attempt: 2 }]);
    let rule = o.audit.rule.as_ref().unwrap();
    assert_eq!(rule.attempts, 2);
    assert!(rule.next_attempt_at > due);
}

#[test]
fn the_window_closing_on_the_schedule_rejects_and_names_the_first_failure() {
    let mut o = order("DISPATCHED");
    o.audit_failed(&rules(), &failure("a1", "STOCK_SHORTAGE", t0()), t0()).unwrap();
    let events = o.retry_window_closed(t0() + Duration::hours(24));
    let [AuditEvent::WindowClosed { failure: None, first: Some(first), rule: Some(_) }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(first.audit_id, "a1");
    assert_eq!((o.audit_status, o.audit.rule.is_none()), (Some(AuditStatus::Rejected), true));
    assert!(o.retry_window_closed(t0() + Duration::hours(25)).is_empty(), "no rule, nothing to close");
}
