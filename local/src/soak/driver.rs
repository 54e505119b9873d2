//! Drives a wave of orders through the rounds: each round's steps of every order,
//! interleaved at random (with the queues pumped now and then between them, so
//! requests and deliveries of different orders mix), then a settle, the redrive of any
//! dead letter, and the clock moved on. Every answer is checked against the plan.

use std::collections::VecDeque;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::bodies;
use super::expect::placed_status;
use super::faults::Injected;
use super::journal::Journal;
use super::plan::{Placement, Plan, Risk};
use super::rng::Rng;
use super::runner::{Answer, Runner, ATTEMPTS};
use super::steps::{steps, Round, Step, ROUNDS};
use super::Violation;

/// Chance of a pump pass between two steps of a round.
const PUMP_BETWEEN: u32 = 125_000;

/// Where in a wave a journal is saved.
struct Position {
    round: usize,
    round_at: Option<DateTime<Utc>>,
    advance_to: Option<DateTime<Utc>>,
}

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
    /// Where the run's journal is kept, on a data directory.
    keeper: Option<Keeper>,
    /// The index in the run of the wave's first order.
    offset: usize,
    /// The round under way is driven again after a restart: some of its steps were
    /// sent (and accepted) before the kill.
    replaying: bool,
}

/// The journal of a soak on a data directory, and where it is saved.
pub struct Keeper {
    pub dir: PathBuf,
    pub journal: Journal,
    /// What the runs before this one injected, and their time.
    pub injected_before: Injected,
    pub elapsed_before: f64,
    pub started: std::time::Instant,
}

impl<'a> Driver<'a> {
    pub fn new(runner: Runner<'a>, seed: u64) -> Driver<'a> {
        Driver { runner, rng: Rng::new(seed, 3), violations: Vec::new(), keeper: None, offset: 0, replaying: false }
    }

    /// A driver that keeps `keeper`'s journal, carrying on from where it stands.
    pub fn keeping(mut runner: Runner<'a>, seed: u64, keeper: Keeper, orders: &mut [Tracked]) -> Driver<'a> {
        let j = &keeper.journal;
        j.restore(orders);
        runner.retries = j.retries;
        runner.pump_errors = j.pump_errors;
        runner.deliveries = j.deliveries;
        runner.dead = j.dead_letters(runner.rt);
        for (queue, id) in &j.poisoned {
            if let Some(q) = runner.rt.topology.queues.iter().find(|q| q.name == queue) {
                runner.poisoned.insert((q.name, id.clone()));
            }
        }
        let rng = j.driver_rng.map_or_else(|| Rng::new(seed, 3), Rng::resume);
        let violations = j.violations();
        Driver { runner, rng, violations, keeper: Some(keeper), offset: 0, replaying: false }
    }

    /// Takes wave `index` (`orders`) through every round, then lets the schedule finish
    /// its work. With a journal, a wave or round it records as done is skipped, and the
    /// round under way is driven again at its clock.
    pub async fn wave(&mut self, index: usize, orders: &mut [Tracked]) -> Result<(), String> {
        self.offset = index.saturating_mul(super::WAVE);
        let (first, mut moving, round_at) = match self.keeper.as_ref().map(|k| &k.journal) {
            Some(j) if j.wave > index => return Ok(()),
            Some(j) if j.wave == index => (j.round, j.advance_to, j.round_at),
            _ => (0, None, None),
        };
        let mut round_at = round_at.filter(|_| moving.is_none());
        for (i, (round, advance)) in ROUNDS.into_iter().enumerate().skip(first) {
            // The round is done and its clock move under way, or it is driven (again).
            let target = match moving.take() {
                Some(target) => Some(target),
                None => {
                    // A round the journal records as under way is driven again.
                    self.replaying = round_at.is_some();
                    let at = round_at.take().unwrap_or_else(|| self.runner.rt.now());
                    self.save(index, orders, Position { round: i, round_at: Some(at), advance_to: None })?;
                    self.round(orders, round, at).await;
                    self.replaying = false;
                    self.runner.settle().await?;
                    self.runner.redrive().await?;
                    (advance > 0).then(|| self.runner.rt.now() + Duration::seconds(advance))
                }
            };
            if let Some(target) = target {
                self.save(index, orders, Position { round: i, round_at: None, advance_to: Some(target) })?;
                self.runner.advance_until(target).await?;
                self.runner.redrive().await?;
            }
        }
        self.save(index, orders, Position { round: ROUNDS.len(), round_at: None, advance_to: None })?;
        if !self.runner.drain_schedule().await? {
            self.violations.push(Violation::run("the schedule still had due work after every order was done"));
        }
        self.runner.redrive().await?;
        self.save(index + 1, orders, Position { round: 0, round_at: None, advance_to: None })?;
        Ok(())
    }

    /// Saves the journal (if kept): the run stands at `position` of wave `wave`, and the
    /// client has learnt what the wave's `orders` hold.
    fn save(&mut self, wave: usize, orders: &[Tracked], position: Position) -> Result<(), String> {
        let Some(keeper) = &mut self.keeper else { return Ok(()) };
        let j = &mut keeper.journal;
        j.learn_wave(self.offset, orders);
        (j.wave, j.round, j.round_at, j.advance_to) = (wave, position.round, position.round_at, position.advance_to);
        j.driver_rng = Some(self.rng.state());
        j.keep_violations(&self.violations);
        j.keep_dead_letters(&self.runner.dead);
        j.poisoned = self.runner.poisoned.iter().map(|(q, id)| (q.to_string(), id.clone())).collect();
        (j.retries, j.pump_errors, j.deliveries) =
            (self.runner.retries, self.runner.pump_errors, self.runner.deliveries);
        j.injected = keeper.injected_before.plus(self.runner.faults.injected());
        j.elapsed_secs = keeper.elapsed_before + keeper.started.elapsed().as_secs_f64();
        j.save(&keeper.dir)
    }

    async fn round(&mut self, orders: &mut [Tracked], round: Round, at: DateTime<Utc>) {
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
                self.step(order, step, at).await;
            }
            if self.rng.chance(PUMP_BETWEEN) && self.runner.pump().await.is_err() {
                self.runner.pump_errors += 1;
            }
        }
    }

    /// Sends `step`, its bodies timed `now` (the round's clock).
    async fn step(&mut self, order: &mut Tracked, step: Step, now: DateTime<Utc>) {
        let plan = &order.plan;
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
        if let Err(problem) = judge(order, &step, &answer, self.replaying) {
            let detail = format!("{method} {path}: {problem} (answered {} {})", answer.status, answer.body);
            self.violations.push(Violation::order(&order.plan.id, detail));
        }
    }
}

/// Checks an answer against the plan, keeping what later steps need from it.
fn judge(order: &mut Tracked, step: &Step, answer: &Answer, replaying: bool) -> Result<(), String> {
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
        // A report sent again in a replayed round: its first sending, accepted before the
        // kill, may still be queued while later reports completed or recalled the
        // fulfilment, which then refuses the resend (409). What the reports did is
        // checked from the store and the published records either way.
        Step::Status { answer, .. } => {
            let overtaken = replaying && *answer == 202 && status == 409;
            require(status == *answer || overtaken, || format!("expected {answer}"))
        }
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
