//! Drives a wave of orders through the rounds: each round's steps of every order,
//! interleaved at random (with the queues pumped now and then between them, so
//! requests and deliveries of different orders mix), then a settle, the redrive of any
//! dead letter, and the clock moved on. Every answer is checked against the plan.

use std::collections::VecDeque;

use serde_json::Value;

use super::bodies;
use super::expect::placed_status;
use super::plan::{Placement, Plan, Risk};
use super::rng::Rng;
use super::runner::{Answer, Runner, ATTEMPTS};
use super::steps::{steps, Round, Step, ROUNDS};
use super::Violation;

/// Chance of a pump pass between two steps of a round.
const PUMP_BETWEEN: u32 = 125_000;

/// An order of the run: its plan and what its answers told the client.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub plan: Plan,
    /// The placement as first sent, sent again unchanged by a later duplicate.
    pub placed: Option<Value>,
    pub prepayment: Option<String>,
    /// Refund ids by request, as answered.
    pub refunds: Vec<Option<String>>,
}

impl Tracked {
    pub fn new(plan: Plan) -> Tracked {
        Tracked { plan, placed: None, prepayment: None, refunds: Vec::new() }
    }
}

pub struct Driver<'a> {
    pub runner: Runner<'a>,
    rng: Rng,
    pub violations: Vec<Violation>,
}

impl<'a> Driver<'a> {
    pub fn new(runner: Runner<'a>, seed: u64) -> Driver<'a> {
        Driver { runner, rng: Rng::new(seed, 3), violations: Vec::new() }
    }

    /// Takes `orders` through every round, then lets the schedule finish its work.
    pub async fn wave(&mut self, orders: &mut [Tracked]) -> Result<(), String> {
        for (round, advance) in ROUNDS {
            self.round(orders, round).await;
            self.runner.settle().await?;
            self.runner.redrive().await?;
            if advance > 0 {
                self.runner.advance(advance).await?;
                self.runner.redrive().await?;
            }
        }
        if !self.runner.drain_schedule().await? {
            self.violations.push(Violation::run("the schedule still had due work after every order was done"));
        }
        self.runner.redrive().await?;
        Ok(())
    }

    async fn round(&mut self, orders: &mut [Tracked], round: Round) {
        let mut pending: Vec<(usize, VecDeque<Step>)> = orders
            .iter()
            .enumerate()
            .map(|(i, t)| (i, VecDeque::from(steps(&t.plan, round))))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        while !pending.is_empty() {
            let k = self.rng.below(pending.len());
            let Some((i, step)) = pending.get_mut(k).and_then(|(i, s)| Some((*i, s.pop_front()?))) else { break };
            if pending.get(k).is_some_and(|(_, s)| s.is_empty()) {
                pending.swap_remove(k);
            }
            if let Some(order) = orders.get_mut(i) {
                self.step(order, step).await;
            }
            if self.rng.chance(PUMP_BETWEEN) && self.runner.pump().await.is_err() {
                self.runner.pump_errors += 1;
            }
        }
    }

    async fn step(&mut self, order: &mut Tracked, step: Step) {
        let plan = &order.plan;
        let now = self.runner.rt.now();
        let id = &plan.id;
        let (method, path, body) = match &step {
            Step::Place | Step::PlaceAgain => {
                let body = order.placed.get_or_insert_with(|| bodies::order(plan, now)).clone();
                ("POST", "/orders".to_string(), Some(body))
            }
            Step::Pay | Step::PayLate => {
                let amount = order.prepayment.clone().unwrap_or_default();
                ("POST", format!("/orders/{id}/prepayment"), Some(bodies::prepayment(plan, &amount)))
            }
            Step::Audit { audit_id, reason } => {
                let message = bodies::audit_result(plan, audit_id, reason.as_deref(), now);
                ("POST", "/_local/topics/audit-results".to_string(), Some(message))
            }
            Step::Status { system, status, .. } => {
                ("POST", "/fulfilment/status".to_string(), Some(bodies::status(plan, system, status, now)))
            }
            Step::Refund { request, .. } => {
                ("POST", "/refunds".to_string(), Some(bodies::refund_request(plan, *request)))
            }
            Step::Review { request, approve, .. } => {
                let Some(refund) = order.refunds.get(*request).cloned().flatten() else {
                    return self.violations.push(Violation::order(id, format!("no refund id to review for {step:?}")));
                };
                ("POST", format!("/refunds/{refund}/review"), Some(bodies::review(plan, *request, *approve)))
            }
        };
        let answer = self.runner.send(method, &path, body.as_ref()).await;
        if let Err(problem) = judge(order, &step, &answer) {
            let detail = format!("{method} {path}: {problem} (answered {} {})", answer.status, answer.body);
            self.violations.push(Violation::order(&order.plan.id, detail));
        }
    }
}

/// Checks an answer against the plan, keeping what later steps need from it.
fn judge(order: &mut Tracked, step: &Step, answer: &Answer) -> Result<(), String> {
    let status = answer.status;
    let body = &answer.body;
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    if status >= 500 {
        return Err(format!("still failing after {ATTEMPTS} attempts"));
    }
    match step {
        Step::Place | Step::PlaceAgain => {
            let first = matches!(step, Step::Place);
            let placed = placed_status(&order.plan);
            let level = body["risk"]["level"].as_str().unwrap_or_default();
            // A first placement is created (201), or answered from a crash-interrupted attempt (200).
            let fits = status == 200 || (status == 201 && first);
            require(fits && field("status") == placed && level == risk_level(&order.plan), || {
                format!("expected status {placed} at risk {}", risk_level(&order.plan))
            })?;
            order.prepayment = body["prepayment"]["amount"].as_str().map(str::to_string);
            Ok(())
        }
        Step::Pay => require(status == 200 && field("status") == "DISPATCHED", || "expected 200 DISPATCHED".into()),
        Step::PayLate => require(status == 409, || "expected 409 (past due)".into()),
        Step::Audit { .. } => require(status == 202, || "expected 202".into()),
        Step::Status { answer, .. } => require(status == *answer, || format!("expected {answer}")),
        Step::Refund { request, status: want } => {
            require((status == 201 || status == 200) && field("status") == *want, || format!("expected {want}"))?;
            if order.refunds.len() <= *request {
                order.refunds.resize(request + 1, None);
            }
            if let Some(slot) = order.refunds.get_mut(*request) {
                *slot = body["refund_id"].as_str().map(str::to_string);
            }
            Ok(())
        }
        Step::Review { status: want, .. } => {
            require(status == 200 && field("status") == *want, || format!("expected 200 {want}"))
        }
    }
}

fn require(ok: bool, problem: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(problem())
    }
}

fn risk_level(plan: &Plan) -> &'static str {
    match plan.placement {
        Placement::Retail(Risk::Low) | Placement::Digital(_) => "LOW",
        Placement::Retail(Risk::Medium) => "MEDIUM",
        Placement::Retail(_) | Placement::PrepaymentLate | Placement::PrepaymentNever => "HIGH",
        Placement::Blocked { .. } => "BLOCK",
    }
}
