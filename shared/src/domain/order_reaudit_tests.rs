use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::audit::Failure;
use crate::domain::policy::Rules;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn rules() -> AuditRules {
    Rules::defaults().audit
}

fn ask(request_id: &str, note: &str) -> ReauditAsk {
    ReauditAsk { request_id: request_id.into(), note: note.into(), by: "u-dock".into() }
}

fn failed_order() -> Order {
    let mut o = crate::domain::test_orders::order(serde_json::json!({}));
    let failure =
        Failure { audit_id: "a1".into(), reason_code: "STOCK_SHORTAGE".into(), reason: "x".into(), occurred_at: t0() };
    o.audit_failed(&rules(), &failure, t0()).unwrap();
    o
}

#[test]
fn a_request_on_an_open_exception_asks_for_the_next_attempt_now() {
    let mut o = failed_order();
    let now = t0() + Duration::minutes(2);
    let Reaudit::Requested { request, events } = o.reaudit_on_request(&rules(), &ask("r-1", "restocked"), now).unwrap()
    else {
        panic!("requested")
    };
    assert_eq!((request.attempt, events), (2, vec![AuditEvent::ReauditRequested { attempt: 2 }]));
    let rule = o.audit.rule.as_ref().unwrap();
    assert_eq!(rule.attempts, 2);
    assert!(rule.next_attempt_at > now, "the schedule moves on from the request");
    assert_eq!(o.history.last().unwrap().event, "REAUDIT_REQUESTED");
}

#[test]
fn the_same_request_is_answered_the_same_and_another_note_conflicts() {
    let mut o = failed_order();
    let first = o.reaudit_on_request(&rules(), &ask("r-1", "restocked"), t0()).unwrap();
    let Reaudit::Requested { request, .. } = first else { panic!("requested") };
    let before = o.clone();
    assert_eq!(
        o.reaudit_on_request(&rules(), &ask("r-1", "restocked"), t0()).unwrap(),
        Reaudit::AlreadyRequested(request)
    );
    assert!(matches!(o.reaudit_on_request(&rules(), &ask("r-1", "other"), t0()), Err(Error::Conflict(_))));
    assert_eq!(o, before, "nothing changed");
}

#[test]
fn no_open_exception_is_a_conflict() {
    let mut fresh = crate::domain::test_orders::order(serde_json::json!({}));
    assert!(matches!(fresh.reaudit_on_request(&rules(), &ask("r-1", "n"), t0()), Err(Error::Conflict(_))));
    let mut passed = failed_order();
    passed.audit_passed("a2", t0()).unwrap();
    let exception = passed.audit.exception.clone().unwrap();
    assert_eq!((exception.state(), exception.last_rule.is_some()), (ExceptionState::Closed, true));
    assert!(matches!(passed.reaudit_on_request(&rules(), &ask("r-1", "n"), t0()), Err(Error::Conflict(_))));
    let mut late = failed_order();
    let after = t0() + Duration::hours(25);
    assert!(matches!(late.reaudit_on_request(&rules(), &ask("r-1", "n"), after), Err(Error::Conflict(_))));
}
