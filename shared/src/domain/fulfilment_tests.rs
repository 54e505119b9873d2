use chrono::TimeZone;
use proptest::prelude::{prop, prop_assert, proptest};
use proptest::strategy::Strategy as Gen;

use super::*;
use crate::domain::policy::fulfilment::Strategy;
use crate::domain::policy::Rules;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn report(system: &str, node: &str, status: &str) -> StatusReport {
    StatusReport { system: system.into(), node: node.into(), status: status.into(), occurred_at: now() }
}

fn retail() -> (Rules, Strategy) {
    let rules = Rules::defaults();
    let strategy = rules.fulfilment.strategies["retail"].clone();
    (rules, strategy)
}

fn triggers(outcome: &Outcome) -> Vec<String> {
    outcome
        .commands
        .iter()
        .filter_map(|c| if let Command::Trigger { system, .. } = c { Some(system.clone()) } else { None })
        .collect()
}

fn cancels(outcome: &Outcome) -> Vec<String> {
    outcome
        .commands
        .iter()
        .filter_map(|c| if let Command::Cancel { system, .. } = c { Some(system.clone()) } else { None })
        .collect()
}

#[test]
fn retail_runs_stage_by_stage_to_the_end() {
    let (rules, s) = retail();
    let (mut p, first) = Progress::start("o-1", "retail", &s, now());
    assert_eq!(triggers(&first), ["payment", "invoice"]);
    let r = &rules.fulfilment;
    assert_eq!(triggers(&p.apply(r, &s, report("payment", "payment", "DONE"), now()).unwrap()), ["warehouse"]);
    assert_eq!(triggers(&p.apply(r, &s, report("warehouse", "warehouse", "DONE"), now()).unwrap()), ["carrier"]);
    let end = p.apply(r, &s, report("carrier", "carrier", "DELIVERED"), now()).unwrap();
    assert!(end.completed);
    assert_eq!(p.status, FulfilmentStatus::Completed);
}

#[test]
fn an_exception_recalls_only_the_triggered_systems_of_its_node() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let r = &rules.fulfilment;
    p.apply(r, &s, report("payment", "payment", "DONE"), now()).unwrap();
    let outcome = p.apply(r, &s, report("warehouse", "warehouse", "FAILED"), now()).unwrap();
    assert_eq!(cancels(&outcome), ["payment", "invoice", "warehouse"]);
    assert_eq!(outcome.exception_at.as_deref(), Some("warehouse"));
    assert_eq!(p.status, FulfilmentStatus::Exception);
}

#[test]
fn a_status_that_triggers_nothing_waits_and_a_later_one_resumes() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let r = &rules.fulfilment;
    assert!(triggers(&p.apply(r, &s, report("invoice", "invoice", "DONE"), now()).unwrap()).is_empty());
    assert_eq!(p.waiting.as_ref().map(|w| w.report.system.as_str()), Some("invoice"));
    assert_eq!(triggers(&p.apply(r, &s, report("payment", "payment", "DONE"), now()).unwrap()), ["warehouse"]);
    assert!(p.waiting.is_none());
}

#[test]
fn an_early_status_is_held_until_its_stage_starts() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let r = &rules.fulfilment;
    assert!(p.apply(r, &s, report("warehouse", "warehouse", "DONE"), now()).unwrap().is_empty());
    assert_eq!(p.held.len(), 1);
    let outcome = p.apply(r, &s, report("payment", "payment", "DONE"), now()).unwrap();
    assert_eq!(triggers(&outcome), ["warehouse", "carrier"], "the held warehouse DONE applies at once");
    assert!(p.held.is_empty());
}

#[test]
fn a_repeated_status_changes_nothing() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let r = &rules.fulfilment;
    p.apply(r, &s, report("payment", "payment", "DONE"), now()).unwrap();
    let again = p.clone();
    assert!(p.apply(r, &s, report("payment", "payment", "DONE"), now()).unwrap().is_empty());
    assert_eq!(p, again);
}

#[test]
fn bad_reports_are_refused_naming_the_field() {
    let (rules, s) = retail();
    let (p, _) = Progress::start("o-1", "retail", &s, now());
    let r = &rules.fulfilment;
    assert_eq!(p.check(r, &s, &report("payment", "payment", "MAYBE")).unwrap_err().field, "status");
    assert_eq!(p.check(r, &s, &report("entitlement", "payment", "DONE")).unwrap_err().field, "system");
    assert_eq!(p.check(r, &s, &report("payment", "moon", "DONE")).unwrap_err().field, "node");
}

#[test]
fn an_end_status_from_a_system_that_is_not_last_does_not_end_the_flow() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let outcome = p.apply(&rules.fulfilment, &s, report("invoice", "invoice", "COMPLETED"), now()).unwrap();
    assert!(!outcome.completed);
    assert_eq!(p.status, FulfilmentStatus::InProgress);
}

#[test]
fn a_status_arriving_after_the_end_is_acknowledged_and_changes_nothing() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let r = &rules.fulfilment;
    for (system, status) in [("payment", "DONE"), ("warehouse", "DONE"), ("carrier", "DELIVERED")] {
        p.apply(r, &s, report(system, system, status), now()).unwrap();
    }
    assert!(p.check(r, &s, &report("invoice", "invoice", "DONE")).is_err(), "the API refuses it");
    assert!(
        p.apply(r, &s, report("invoice", "invoice", "DONE"), now()).unwrap().is_empty(),
        "the queue acknowledges it"
    );
}

#[test]
fn a_final_audit_rejection_after_an_exception_cancels_what_is_left() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    let outcome = p.apply(&rules.fulfilment, &s, report("invoice", "invoice", "FAILED"), now()).unwrap();
    assert_eq!(cancels(&outcome), ["invoice"]);
    let later = p.recall_all("AUDIT_REJECTED", now());
    assert_eq!(cancels(&later), ["payment"]);
    assert!(later.exception_at.is_none(), "the exception was announced already");
}

#[test]
fn a_final_audit_rejection_recalls_everything_triggered() {
    let (rules, s) = retail();
    let (mut p, _) = Progress::start("o-1", "retail", &s, now());
    p.apply(&rules.fulfilment, &s, report("payment", "payment", "DONE"), now()).unwrap();
    assert_eq!(cancels(&p.recall_all("AUDIT_REJECTED", now())), ["payment", "invoice", "warehouse"]);
    assert!(p.recall_all("AUDIT_REJECTED", now()).is_empty());
}

fn arb_report() -> impl Gen<Value = StatusReport> {
    let systems = ["payment", "invoice", "warehouse", "carrier"];
    let statuses = ["DONE", "FAILED", "DELIVERED", "COMPLETED"];
    (
        prop::sample::select(systems.to_vec()),
        prop::sample::select(systems.to_vec()),
        prop::sample::select(statuses.to_vec()),
    )
        .prop_map(|(system, node, status)| report(system, node, status))
}

proptest! {
    /// Whatever statuses arrive, in whatever order and how often, no system is
    /// triggered twice and none is cancelled that was not triggered, or twice.
    #[test]
    fn never_triggers_twice_nor_cancels_what_was_not_triggered(reports in prop::collection::vec(arb_report(), 0..30)) {
        let (rules, s) = retail();
        let (mut p, first) = Progress::start("o-1", "retail", &s, now());
        let mut triggered = triggers(&first);
        let mut cancelled: Vec<String> = Vec::new();
        for r in reports {
            if let Ok(outcome) = p.apply(&rules.fulfilment, &s, r, now()) {
                for system in triggers(&outcome) {
                    prop_assert!(!triggered.contains(&system), "{system} triggered twice");
                    triggered.push(system);
                }
                for system in cancels(&outcome) {
                    prop_assert!(triggered.contains(&system), "{system} cancelled without a trigger");
                    prop_assert!(!cancelled.contains(&system), "{system} cancelled twice");
                    cancelled.push(system);
                }
            }
        }
    }
}
