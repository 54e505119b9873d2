use chrono::{Duration, TimeZone};
use rust_decimal::Decimal;

use super::*;
use crate::domain::money::Currency;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn awaiting() -> Order {
    let due = (t0() + Duration::days(1)).to_rfc3339();
    crate::domain::test_orders::order(serde_json::json!({
        "total": {"amount": "200000.00", "currency": "CNY"}, "status": "AWAITING_PREPAYMENT",
        "initial_status": "AWAITING_PREPAYMENT", "audit_status": null,
        "risk": {"level": "HIGH", "score": 70, "matched_rules": []},
        "prepayment": {"amount": "60000.00", "currency": "CNY", "due_at": due}
    }))
}

fn cny(amount: &str) -> Money {
    Money::new(amount.parse::<Decimal>().unwrap(), Currency::parse("currency", "CNY").unwrap())
}

#[test]
fn the_amount_due_in_time_dispatches_and_a_retry_is_recognised() {
    let mut o = awaiting();
    assert_eq!(o.prepaid("p-1", &cny("60000.00"), t0()).unwrap(), Prepaid::Dispatched);
    assert_eq!((o.status, o.audit_status), (OrderStatus::Dispatched, Some(AuditStatus::Pending)));
    assert_eq!(o.prepaid("p-1", &cny("60000.00"), t0()).unwrap(), Prepaid::AlreadyPaid);
    assert!(matches!(o.prepaid("p-2", &cny("60000.00"), t0()), Err(Error::Conflict(_))));
}

#[test]
fn a_wrong_amount_is_refused_and_changes_nothing() {
    let mut o = awaiting();
    let before = o.clone();
    assert!(matches!(o.prepaid("p-1", &cny("1.00"), t0()), Err(Error::Validation { .. })));
    assert_eq!(o, before);
}

#[test]
fn a_late_prepayment_cancels_the_order_and_a_later_one_finds_it_cancelled() {
    let mut o = awaiting();
    let late = t0() + Duration::days(2);
    assert_eq!(o.prepaid("p-1", &cny("60000.00"), late).unwrap(), Prepaid::Cancelled);
    assert_eq!(o.status, OrderStatus::Cancelled);
    assert_eq!(o.prepaid("p-1", &cny("60000.00"), late).unwrap(), Prepaid::AlreadyCancelled);
}

#[test]
fn the_schedule_cancels_only_an_order_still_awaiting_past_its_due_time() {
    let mut o = awaiting();
    assert!(!o.prepayment_overdue(t0() + Duration::hours(23)));
    assert!(o.prepayment_overdue(t0() + Duration::hours(25)));
    assert_eq!(o.status, OrderStatus::Cancelled);
    assert!(!o.prepayment_overdue(t0() + Duration::hours(26)), "once");
    let mut paid = awaiting();
    paid.prepaid("p-1", &cny("60000.00"), t0()).unwrap();
    assert!(!paid.prepayment_overdue(t0() + Duration::hours(25)));
}

#[test]
fn a_placed_order_takes_the_state_its_risk_decision_gives() {
    let request = awaiting().request;
    let risk = RiskAssessment { level: crate::domain::risk::RiskLevel::Low, score: 10, matched_rules: vec![] };
    let total = cny("100.00");
    let placed = |decision| Order::place(request.clone(), total, risk.clone(), decision, t0());
    let dispatched = placed(RiskDecision::Dispatch);
    assert_eq!((dispatched.status, dispatched.initial_status), (OrderStatus::Dispatched, OrderStatus::Dispatched));
    assert_eq!(dispatched.audit_status, Some(AuditStatus::Pending));
    let due_at = t0() + Duration::days(1);
    let asked = placed(RiskDecision::RequirePrepayment { amount: cny("30.00"), due_at });
    assert_eq!(asked.status, OrderStatus::AwaitingPrepayment);
    assert_eq!(asked.prepayment.as_ref().map(|p| (p.amount, p.due_at)), Some((cny("30.00").amount, due_at)));
    let rejected = placed(RiskDecision::Reject);
    assert_eq!((rejected.status, rejected.audit_status), (OrderStatus::Rejected, None));
    assert_eq!(rejected.history.last().map(|h| h.event.as_str()), Some("REJECTED"));
}
