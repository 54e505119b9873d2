//! The checker, in the spirit of Jepsen's total-queue check: from the store (the order
//! and refund reads), everything published and the answers the client kept, it proves
//! for every order that it ended in the final state its plan leads to, that every
//! expected effect happened exactly once by message id (and nothing unexpected
//! happened), and that its refunds never exceed what was paid.

use std::collections::{BTreeMap, BTreeSet};

use orderflow_shared::domain::money::{self, Currency};
use serde_json::Value;

use super::digest::{Digest, Effects};
use super::driver::Tracked;
use super::expect::{expected, Count, Expected, Fulfilment};
use super::Violation;
use crate::router;
use crate::runtime::Runtime;

/// What the checker found: violations, and the final states seen, by report section
/// and plan.
#[derive(Default)]
pub struct Checked {
    pub violations: Vec<Violation>,
    pub states: BTreeMap<(&'static str, String, String), usize>,
}

pub async fn check(rt: &Runtime, orders: &[Tracked], digest: &mut Digest) -> Checked {
    let mut checked = Checked { violations: std::mem::take(&mut digest.violations), ..Checked::default() };
    let mut known = BTreeSet::new();
    for order in orders {
        known.insert(order.plan.id.as_str());
        let effects = digest.effects.get(&order.plan.id);
        check_order(rt, order, effects, &mut checked).await;
    }
    for order in digest.effects.keys().filter(|o| !known.contains(o.as_str())) {
        checked.violations.push(Violation::order(order, "messages about an order the run never placed".into()));
    }
    checked
}

async fn get(rt: &Runtime, path: &str) -> Result<Value, String> {
    let reply = router::handle(rt, "GET", path, b"").await;
    let body = serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body));
    if reply.status == 200 {
        Ok(body)
    } else {
        Err(format!("GET {path} answered {} {body}", reply.status))
    }
}

async fn check_order(rt: &Runtime, order: &Tracked, effects: Option<&Effects>, checked: &mut Checked) {
    let plan = &order.plan;
    let mut problems = Vec::new();
    let want = expected(plan);
    let view = match get(rt, &format!("/orders/{}", plan.id)).await {
        Ok(view) => view,
        Err(e) => {
            checked.violations.push(Violation::order(&plan.id, e));
            return;
        }
    };
    state(&want, &view, &mut problems);
    let empty = Effects::new();
    let effects = effects.unwrap_or(&empty);
    exactly_once(&want, effects, &mut problems);
    let refunds = refunds(rt, order, &want, &view, effects, &mut problems).await;
    record_states(plan, &view, &refunds, checked);
    checked.violations.extend(problems.into_iter().map(|p| Violation::order(&plan.id, p)));
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("null")
}

/// The order's final state in the store.
fn state(want: &Expected, view: &Value, problems: &mut Vec<String>) {
    if text(&view["status"]) != want.status {
        problems.push(format!("status {} instead of {}", view["status"], want.status));
    }
    if let Some(audit) = want.audit_status.filter(|a| text(&view["audit_status"]) != *a) {
        problems.push(format!("audit_status {} instead of {audit}", view["audit_status"]));
    }
    if !view["reaudit_rule"].is_null() {
        problems.push(format!("a re-audit rule is left: {}", view["reaudit_rule"]));
    }
    let f = &view["fulfilment"];
    match &want.fulfilment {
        None if text(&f["status"]) != "NOT_STARTED" => problems.push(format!("fulfilment started: {f}")),
        None => {}
        Some(Fulfilment { status, triggered, cancelled, recalled_for }) => {
            let systems: BTreeSet<&str> =
                f["systems"].as_array().into_iter().flatten().map(|s| text(&s["system"])).collect();
            let gone: BTreeSet<&str> = f["cancelled"].as_array().into_iter().flatten().map(text).collect();
            let same = text(&f["status"]) == *status
                && systems == triggered.iter().copied().collect()
                && gone == cancelled.iter().copied().collect()
                && f["recalled_for"].as_str() == *recalled_for;
            if !same {
                problems.push(format!(
                    "fulfilment {f} instead of {status} with {triggered:?} triggered, {cancelled:?} cancelled, \
                     recalled for {recalled_for:?}"
                ));
            }
        }
    }
}

/// Each effect's distinct ids against its expected count, the expected ids present,
/// and no type that should not be there.
fn exactly_once(want: &Expected, effects: &Effects, problems: &mut Vec<String>) {
    let none = BTreeMap::new();
    for (kind, count) in &want.effects {
        let ids = effects.get(*kind).unwrap_or(&none);
        match count {
            Count::Exactly(n) if ids.len() != *n => {
                problems.push(format!("{} distinct {kind} ids instead of {n}: {:?}", ids.len(), ids.keys()));
            }
            Count::Attempts(min) => {
                let attempts: Vec<u64> = ids.values().filter_map(|a| a.parse().ok()).collect();
                let mut sorted = attempts.clone();
                sorted.sort_unstable();
                let contiguous = sorted.iter().copied().eq(1..=sorted.len() as u64);
                if !contiguous || attempts.len() != ids.len() || ids.len() < *min {
                    problems.push(format!("re-audit attempts {sorted:?}: expected 1 to n, each once, n ≥ {min}"));
                }
            }
            Count::Exactly(_) => {}
        }
    }
    for kind in effects.keys().filter(|k| !want.effects.contains_key(k.as_str())) {
        problems.push(format!("unexpected effect {kind}: {:?}", effects.get(kind).map(|ids| ids.keys())));
    }
    let seen: BTreeSet<&String> = effects.values().flat_map(|ids| ids.keys()).collect();
    for id in want.ids.iter().filter(|id| !seen.contains(id)) {
        problems.push(format!("expected message {id} was never published"));
    }
    let systems =
        |kind: &str| -> Vec<&str> { effects.get(kind).into_iter().flatten().map(|(_, s)| s.as_str()).collect() };
    if let Some(f) = &want.fulfilment {
        for (kind, want) in [("fulfilment.trigger", &f.triggered), ("fulfilment.cancel", &f.cancelled)] {
            let mut got = systems(kind);
            got.sort_unstable();
            let mut want = want.clone();
            want.sort_unstable();
            if got != want {
                problems.push(format!("{kind} sent to {got:?} instead of {want:?}"));
            }
        }
    }
}

/// Each refund's final state, the refunds the events name against those the client
/// was answered, and the refunded total against what was paid. Returns the states.
async fn refunds(
    rt: &Runtime,
    order: &Tracked,
    want: &Expected,
    view: &Value,
    effects: &Effects,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let mut states = Vec::new();
    let mut approved = Vec::new();
    for (k, status) in want.refunds.iter().enumerate() {
        let Some(id) = order.refunds.get(k).cloned().flatten() else {
            problems.push(format!("refund request {k} was never answered with a refund id"));
            continue;
        };
        match get(rt, &format!("/refunds/{id}")).await {
            Ok(refund) => {
                let got = text(&refund["status"]).to_string();
                if got != *status {
                    problems.push(format!("refund {id} is {got} instead of {status}"));
                }
                if got == "APPROVED" {
                    approved.push(text(&refund["amount"]).to_string());
                }
                states.push(got);
            }
            Err(e) => problems.push(e),
        }
    }
    let answered: BTreeSet<String> = order.refunds.iter().flatten().cloned().collect();
    let named: BTreeSet<String> = ["refund.issued", "refund.rejected", "refund.review_requested"]
        .into_iter()
        .flat_map(|kind| effects.get(kind).into_iter().flatten())
        .map(|(id, detail)| if detail.is_empty() { id.clone() } else { refund_of(id, detail) })
        .collect();
    for id in named.difference(&answered) {
        problems.push(format!("events about refund {id}, which no answer named"));
    }
    let issued: Vec<String> = effects.get("refund.issued").into_iter().flatten().map(|(_, a)| a.clone()).collect();
    for (what, amounts) in [("approved refunds", &approved), ("issued refund events", &issued)] {
        if let Err(e) = within_paid(view, amounts) {
            problems.push(format!("{what}: {e}"));
        }
    }
    states
}

/// A refund event's detail is its amount (issued) or its refund id (the others); the
/// issued event's id starts with its refund id.
fn refund_of(id: &str, detail: &str) -> String {
    if detail.starts_with("rf-") {
        detail.to_string()
    } else {
        id.split(':').next().unwrap_or(id).to_string()
    }
}

/// The sum of `amounts` is at most the order's total (what was paid).
fn within_paid(view: &Value, amounts: &[String]) -> Result<(), String> {
    let currency = Currency::parse("currency", text(&view["currency"])).map_err(|e| e.to_string())?;
    let paid = currency.parse_amount("total", text(&view["total"])).map_err(|e| e.to_string())?;
    let each: Vec<_> = amounts
        .iter()
        .map(|a| currency.parse_amount("amount", a))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let refunded = money::sum("refunds", each).map_err(|e| e.to_string())?;
    if refunded > paid {
        return Err(format!("{refunded} refunded of {paid} paid"));
    }
    Ok(())
}

fn record_states(plan: &super::plan::Plan, view: &Value, refunds: &[String], checked: &mut Checked) {
    let fulfilment = text(&view["fulfilment"]["status"]);
    let mut placement = text(&view["status"]).to_string();
    if !view["audit_status"].is_null() {
        placement = format!("{placement}, audit {}, fulfilment {fulfilment}", text(&view["audit_status"]));
    }
    let mut count =
        |section, plan: String, state: String| *checked.states.entry((section, plan, state)).or_default() += 1;
    count("flow", plan.flow().to_string(), placement);
    if let (Some(audit), Some(fulfil)) = (&plan.audit, plan.fulfil) {
        count("audit", audit.label(), text(&view["audit_status"]).to_string());
        count("fulfilment", fulfil.label(), fulfilment.to_string());
    }
    if !refunds.is_empty() {
        count("refunds", plan.refunds.label().to_string(), refunds.join(", "));
    }
}
