//! Staged fulfilment (DOMAIN §3): pure decisions on an order's fulfilment progress from
//! the strategy, the status table and each reported status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::policy::fulfilment::{FulfilmentRules, Stage, StatusClass, Strategy, Trigger};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FulfilmentStatus {
    NotStarted,
    InProgress,
    Completed,
    Exception,
}

/// A status a fulfilment system reported (`POST /fulfilment/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub system: String,
    pub node: String,
    pub status: String,
    pub occurred_at: DateTime<Utc>,
}

impl StatusReport {
    /// What makes a report the same report when it arrives again.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.system, self.node, self.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triggered {
    pub system: String,
    pub stage: usize,
    pub at: DateTime<Utc>,
}

/// A status as applied, with what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    #[serde(flatten)]
    pub report: StatusReport,
    pub result: StatusClass,
    pub received_at: DateTime<Utc>,
}

/// An order's fulfilment, owned by the fulfilment dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub order_id: String,
    pub business_type: String,
    pub status: FulfilmentStatus,
    pub triggered: Vec<Triggered>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Applied>,
    /// A normal status that triggered nothing: stored while the order waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Applied>,
    /// Statuses from systems whose stage has not started yet, applied when it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<StatusReport>,
    /// Keys of every report applied or held, so a redelivery changes nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// Why fulfilment was recalled, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalled_for: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A command for a fulfilment system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Trigger { system: String, stage: usize },
    Cancel { system: String, node: String, stage: usize },
}

/// What applying a status did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub commands: Vec<Command>,
    pub completed: bool,
    /// The node whose exception recalled systems.
    pub exception_at: Option<String>,
}

impl Outcome {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && !self.completed && self.exception_at.is_none()
    }
}

/// Why a status cannot be applied (the record belongs in the dead-letter queue, or the
/// API answers 4xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub problem: String,
}

impl Progress {
    /// DOMAIN §3 steps 1–2: the first set of systems is triggered.
    pub fn start(order_id: &str, business_type: &str, strategy: &Strategy, now: DateTime<Utc>) -> (Progress, Outcome) {
        let mut progress = Progress {
            order_id: order_id.to_string(),
            business_type: business_type.to_string(),
            status: FulfilmentStatus::InProgress,
            triggered: Vec::new(),
            cancelled: Vec::new(),
            statuses: Vec::new(),
            waiting: None,
            held: Vec::new(),
            seen: Vec::new(),
            recalled_for: None,
            updated_at: now,
        };
        let mut outcome = Outcome::default();
        progress.trigger(&strategy.first, 0, now, &mut outcome);
        (progress, outcome)
    }

    /// A progress recalled before it started (the audit rejected the order first): a
    /// late `order.dispatched` then starts nothing.
    pub fn recalled_before_start(order_id: &str, business_type: &str, reason: &str, now: DateTime<Utc>) -> Progress {
        let mut progress = Progress::start(order_id, business_type, &empty_strategy(), now).0;
        progress.status = FulfilmentStatus::Exception;
        progress.recalled_for = Some(reason.to_string());
        progress
    }

    /// Completed or recalled: no status changes anything any more.
    pub fn is_over(&self) -> bool {
        matches!(self.status, FulfilmentStatus::Completed | FulfilmentStatus::Exception)
    }

    pub fn is_triggered(&self, system: &str) -> bool {
        self.triggered.iter().any(|t| t.system == system)
    }

    fn trigger(&mut self, systems: &[String], stage: usize, now: DateTime<Utc>, outcome: &mut Outcome) {
        for system in systems {
            if !self.is_triggered(system) {
                self.triggered.push(Triggered { system: system.clone(), stage, at: now });
                outcome.commands.push(Command::Trigger { system: system.clone(), stage });
            }
        }
    }

    /// Checks a report against the rules without changing anything (the API's 4xx).
    pub fn check(&self, rules: &FulfilmentRules, strategy: &Strategy, report: &StatusReport) -> Result<(), Refusal> {
        if self.is_over() && !self.seen.contains(&report.key()) {
            let state = if self.status == FulfilmentStatus::Completed { "completed" } else { "recalled" };
            return Err(Refusal {
                field: "order_id",
                problem: format!("the fulfilment of order {} is {state}", self.order_id),
            });
        }
        if rules.class(&report.status).is_none() {
            let known: Vec<&str> = rules.statuses.keys().map(String::as_str).collect();
            return Err(Refusal {
                field: "status",
                problem: format!("unknown status {:?}: expected one of {}", report.status, known.join(", ")),
            });
        }
        if !strategy.systems().contains(report.system.as_str()) {
            return Err(Refusal {
                field: "system",
                problem: format!("{:?} takes no part in the {} strategy", report.system, self.business_type),
            });
        }
        if !strategy.nodes.contains_key(&report.node) {
            return Err(Refusal {
                field: "node",
                problem: format!("unknown processing node {:?} in the {} strategy", report.node, self.business_type),
            });
        }
        Ok(())
    }

    /// DOMAIN §3 steps 3–6 for one reported status.
    pub fn apply(
        &mut self,
        rules: &FulfilmentRules,
        strategy: &Strategy,
        report: StatusReport,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Refusal> {
        if self.seen.contains(&report.key()) {
            return Ok(Outcome::default());
        }
        if self.is_over() {
            // Completed or recalled while the report was on its way (the API checked it
            // before): acknowledged, and it changes nothing.
            self.seen.push(report.key());
            return Ok(Outcome::default());
        }
        self.check(rules, strategy, &report)?;
        self.seen.push(report.key());
        self.updated_at = now;
        if !self.is_triggered(&report.system) {
            self.held.push(report);
            return Ok(Outcome::default());
        }
        let mut outcome = Outcome::default();
        self.apply_triggered(rules, strategy, report, now, &mut outcome);
        Ok(outcome)
    }

    fn apply_triggered(
        &mut self,
        rules: &FulfilmentRules,
        strategy: &Strategy,
        report: StatusReport,
        now: DateTime<Utc>,
        outcome: &mut Outcome,
    ) {
        let result = match rules.class(&report.status).unwrap_or(StatusClass::Normal) {
            // Only the strategy's last system ends the flow; an end status from another
            // system finishes that system's own part, like a normal status.
            StatusClass::End if report.system != strategy.end.system => StatusClass::Normal,
            class => class,
        };
        let applied = Applied { report: report.clone(), result, received_at: now };
        self.statuses.push(applied.clone());
        match result {
            StatusClass::Exception => {
                self.recall(strategy.nodes.get(&report.node).map(Vec::as_slice).unwrap_or(&[]), &report.node, outcome)
            }
            StatusClass::End => {
                self.status = FulfilmentStatus::Completed;
                self.waiting = None;
                outcome.completed = true;
            }
            StatusClass::Normal => {
                let next: Vec<(usize, &Stage)> = strategy
                    .stages
                    .iter()
                    .enumerate()
                    .filter(|(_, st)| st.after.system == report.system && st.after.status == report.status)
                    .collect();
                let before = self.triggered.len();
                for (i, stage) in next {
                    self.trigger(&stage.trigger, i.saturating_add(1), now, outcome);
                }
                if self.triggered.len() == before {
                    self.waiting = Some(applied);
                    return;
                }
                self.waiting = None;
                self.release_held(rules, strategy, now, outcome);
            }
        }
    }

    /// Applies the held statuses of systems that are now triggered.
    fn release_held(
        &mut self,
        rules: &FulfilmentRules,
        strategy: &Strategy,
        now: DateTime<Utc>,
        outcome: &mut Outcome,
    ) {
        while let Some(pos) = self.held.iter().position(|r| self.is_triggered(&r.system)) {
            if self.status != FulfilmentStatus::InProgress {
                return;
            }
            let report = self.held.remove(pos);
            self.apply_triggered(rules, strategy, report, now, outcome);
        }
    }

    /// Cancels the systems in `systems` that were triggered and not yet cancelled.
    fn recall(&mut self, systems: &[String], node: &str, outcome: &mut Outcome) {
        for system in systems {
            let Some(stage) = self.triggered.iter().find(|t| &t.system == system).map(|t| t.stage) else { continue };
            if self.cancelled.contains(system) {
                continue;
            }
            self.cancelled.push(system.clone());
            outcome.commands.push(Command::Cancel { system: system.clone(), node: node.to_string(), stage });
        }
        self.status = FulfilmentStatus::Exception;
        self.waiting = None;
        outcome.exception_at = Some(node.to_string());
    }

    /// A final audit rejection: every triggered system not yet cancelled is recalled,
    /// also those an earlier exception at another node left running.
    pub fn recall_all(&mut self, reason: &str, now: DateTime<Utc>) -> Outcome {
        let mut outcome = Outcome::default();
        if self.status == FulfilmentStatus::Completed {
            return outcome;
        }
        let already_recalled = self.status == FulfilmentStatus::Exception;
        let systems: Vec<String> = self.triggered.iter().map(|t| t.system.clone()).collect();
        self.recall(&systems, "audit", &mut outcome);
        if already_recalled {
            // The exception was announced already; only the extra cancels go out.
            outcome.exception_at = None;
        } else {
            self.recalled_for = Some(reason.to_string());
        }
        self.updated_at = now;
        outcome
    }
}

fn empty_strategy() -> Strategy {
    Strategy {
        first: Vec::new(),
        stages: Vec::new(),
        end: Trigger { system: String::new(), status: String::new() },
        nodes: Default::default(),
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
#[path = "fulfilment_tests.rs"]
mod tests;
