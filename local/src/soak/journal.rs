//! The soak's journal, for a soak on a data directory that is killed and started again
//! (`--kills`): where the driver stands (wave, round, the clock it drove the round at,
//! the clock target of a move under way) and what the client has learnt (each order's
//! placement body, prepayment and refund ids; dead letters seen; violations; counters).
//!
//! It is saved in the data directory (`soak-journal.json`, written aside and renamed
//! over it, so a kill leaves the old journal or the new one) at every round's end and
//! around every move of the clock. A run that finds one carries on from it: the round
//! that was under way is driven again from its start, at the same clock, with the same
//! bodies, as a client that lost its answers sends its requests again. Everything the
//! runtime had committed is in the database; a request sent twice is answered from its
//! first outcome, and a message delivered twice is handled once.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::driver::Tracked;
use super::faults::Injected;
use super::runner::DeadLetter;
use super::{Options, Violation};
use crate::runtime::Runtime;

/// The journal's file name in the soak's data directory.
pub const JOURNAL_FILE: &str = "soak-journal.json";

/// What one order's answers told the client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Learnt {
    pub placed: Option<Value>,
    pub prepayment: Option<String>,
    pub refunds: Vec<Option<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedDeadLetter {
    pub queue: String,
    pub message_id: String,
    pub order: Option<String>,
    pub receive_count: u32,
    pub poison: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub orders: usize,
    pub seed: u64,
    /// Times a run carried on from this journal.
    pub resumes: u32,
    /// The wave under way, and the index in `steps::ROUNDS` of its next round.
    pub wave: usize,
    pub round: usize,
    /// The clock the round under way drives its requests at.
    pub round_at: Option<DateTime<Utc>>,
    /// After the round under way: the clock target of the move under way.
    pub advance_to: Option<DateTime<Utc>>,
    pub driver_rng: Option<u64>,
    pub learnt: Vec<Learnt>,
    pub dead: Vec<SavedDeadLetter>,
    /// Dead letters found poison: (queue, message id).
    pub poisoned: Vec<(String, String)>,
    pub violations: Vec<(Option<String>, String)>,
    pub retries: u64,
    pub pump_errors: u64,
    pub deliveries: u64,
    /// Faults injected by the runs before this one.
    pub injected: Injected,
    /// Wall-clock seconds of the runs before this one.
    pub elapsed_secs: f64,
}

impl Journal {
    pub fn new(options: &Options) -> Journal {
        Journal {
            orders: options.orders,
            seed: options.seed,
            resumes: 0,
            wave: 0,
            round: 0,
            round_at: None,
            advance_to: None,
            driver_rng: None,
            learnt: Vec::new(),
            dead: Vec::new(),
            poisoned: Vec::new(),
            violations: Vec::new(),
            retries: 0,
            pump_errors: 0,
            deliveries: 0,
            injected: Injected::default(),
            elapsed_secs: 0.0,
        }
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(JOURNAL_FILE)
    }

    /// The journal in `dir`, if there is one; refused if it is of another soak.
    pub fn load(dir: &Path, options: &Options) -> Result<Option<Journal>, String> {
        let path = Journal::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read the soak journal {}: {e}", path.display())),
        };
        let journal: Journal = serde_json::from_str(&text).map_err(|e| {
            format!("the soak journal {} cannot be read ({e}); give the soak a new directory", path.display())
        })?;
        if journal.orders != options.orders || journal.seed != options.seed {
            return Err(format!(
                "{} holds a soak of {} orders with seed {}; run it with those, or give the soak a new directory",
                dir.display(),
                journal.orders,
                journal.seed
            ));
        }
        Ok(Some(journal))
    }

    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = Journal::path(dir);
        let text = serde_json::to_string(self).map_err(|e| format!("the soak journal: {e}"))?;
        let aside = path.with_extension("json.new");
        std::fs::write(&aside, text)
            .and_then(|()| std::fs::rename(&aside, &path))
            .map_err(|e| format!("cannot save the soak journal {}: {e}", path.display()))
    }

    /// Gives `orders` what the client had learnt of them.
    pub fn restore(&self, orders: &mut [Tracked]) {
        for (order, learnt) in orders.iter_mut().zip(&self.learnt) {
            order.placed.clone_from(&learnt.placed);
            order.prepayment.clone_from(&learnt.prepayment);
            order.refunds.clone_from(&learnt.refunds);
        }
    }

    /// Keeps what the client has learnt of `orders`, the orders from `offset` on.
    pub fn learn_wave(&mut self, offset: usize, orders: &[Tracked]) {
        if self.learnt.len() < offset + orders.len() {
            self.learnt.resize(offset + orders.len(), Learnt::default());
        }
        for (slot, o) in self.learnt.iter_mut().skip(offset).zip(orders) {
            *slot = Learnt { placed: o.placed.clone(), prepayment: o.prepayment.clone(), refunds: o.refunds.clone() };
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.violations.iter().map(|(order, what)| Violation { order: order.clone(), what: what.clone() }).collect()
    }

    pub fn keep_violations(&mut self, violations: &[Violation]) {
        self.violations = violations.iter().map(|v| (v.order.clone(), v.what.clone())).collect();
    }

    /// The dead letters seen, with their queues named as the topology names them.
    pub fn dead_letters(&self, rt: &Runtime) -> Vec<DeadLetter> {
        self.dead
            .iter()
            .filter_map(|d| {
                let queue = rt.topology.queues.iter().find(|q| q.name == d.queue)?.name;
                Some(DeadLetter {
                    queue,
                    message_id: d.message_id.clone(),
                    order: d.order.clone(),
                    receive_count: d.receive_count,
                    poison: d.poison,
                })
            })
            .collect()
    }

    pub fn keep_dead_letters(&mut self, dead: &[DeadLetter]) {
        self.dead = dead
            .iter()
            .map(|d| SavedDeadLetter {
                queue: d.queue.to_string(),
                message_id: d.message_id.clone(),
                order: d.order.clone(),
                receive_count: d.receive_count,
                poison: d.poison,
            })
            .collect();
    }
}
