//! The report of a soak run, printed as tables.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::digest::TopicCount;
use super::faults::Injected;
use super::runner::DeadLetter;
use super::Violation;

/// Dead letters listed one by one; the count says how many more there were.
const LISTED: usize = 40;

#[derive(Debug, Clone)]
pub struct Report {
    pub orders: usize,
    pub seed: u64,
    pub backend: String,
    /// Wall-clock time of the run (reported, never used in a decision).
    pub elapsed: Duration,
    /// Runs killed on the data directory before this one carried on from the journal.
    pub resumes: u32,
    /// Orders by report section ("flow", "audit", "fulfilment", "refunds"), plan and
    /// final state.
    pub states: BTreeMap<(&'static str, String, String), usize>,
    pub injected: Injected,
    pub client_retries: u64,
    pub pump_errors: u64,
    pub deliveries: u64,
    pub topics: Vec<TopicCount>,
    pub dead_letters: Vec<DeadLetter>,
    pub relay_give_ups: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn orders_per_second(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn states(&self, f: &mut fmt::Formatter<'_>, section: &str, title: &str) -> fmt::Result {
        writeln!(f, "\n{title}")?;
        let rows: Vec<_> = self.states.iter().filter(|((s, _, _), _)| *s == section).collect();
        let width = rows.iter().map(|((_, plan, _), _)| plan.chars().count()).max().unwrap_or(0);
        for ((_, plan, state), n) in rows {
            writeln!(f, "  {plan:<width$}  {n:>7}  {state}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: {} orders, seed {}, {}: {:.1} s, {:.0} orders/s",
            self.orders,
            self.seed,
            self.backend,
            self.elapsed.as_secs_f64(),
            self.orders_per_second()
        )?;
        if self.resumes > 0 {
            writeln!(f, "carried on from its journal after {} kills (`kill -9`) of the runs before", self.resumes)?;
        }
        self.states(f, "flow", "Orders by flow and final state (status, audit, fulfilment)")?;
        self.states(f, "audit", "Audit results reported, and the audit status they ended in")?;
        self.states(f, "fulfilment", "Fulfilment statuses reported, and the fulfilment status")?;
        self.states(f, "refunds", "Refund requests, and each refund's final status")?;
        writeln!(f, "\nFaults injected")?;
        for (kind, n) in self.injected.kinds() {
            writeln!(f, "  {kind:<36} {n:>9}")?;
        }
        writeln!(f, "  {:<36} {:>9}", "requests retried after a 5xx", self.client_retries)?;
        writeln!(f, "  {:<36} {:>9}", "pump passes failed and rerun", self.pump_errors)?;
        writeln!(f, "\nMessages published            records   distinct ids   published again")?;
        for t in &self.topics {
            writeln!(f, "  {:<26} {:>9} {:>14} {:>17}", t.topic, t.records, t.ids, t.records.saturating_sub(t.ids))?;
        }
        let again: usize = self.topics.iter().map(|t| t.records.saturating_sub(t.ids)).sum();
        writeln!(
            f,
            "Duplicates: {} extra copies queued by the fault plan, {again} messages published again under their id;\n\
             {} records handed to the functions in all",
            self.injected.extra_copies, self.deliveries
        )?;
        self.dead(f)?;
        writeln!(f, "\nViolations: {}", self.violations.len())?;
        for v in &self.violations {
            writeln!(f, "  - {v}")?;
        }
        Ok(())
    }
}

impl Report {
    fn dead(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Copies of one message share its id and die together: one line per message.
        let mut messages: Vec<(&DeadLetter, usize, bool)> = Vec::new();
        for d in &self.dead_letters {
            match messages.iter_mut().find(|(m, _, _)| m.queue == d.queue && m.message_id == d.message_id) {
                Some((_, copies, poison)) => (*copies, *poison) = (*copies + 1, *poison || d.poison),
                None => messages.push((d, 1, d.poison)),
            }
        }
        let poison = messages.iter().filter(|(_, _, p)| *p).count();
        let mut orders: Vec<&str> = self.dead_letters.iter().filter_map(|d| d.order.as_deref()).collect();
        orders.sort_unstable();
        orders.dedup();
        writeln!(
            f,
            "\nDead letters: {} copies of {} messages (orders involved: {}); every one redriven with the faults off: \
             {} messages consumed, {poison} died again",
            self.dead_letters.len(),
            messages.len(),
            orders.len(),
            messages.len() - poison,
        )?;
        for (d, copies, poison) in messages.iter().take(LISTED) {
            let order = d.order.as_deref().unwrap_or("?");
            let after = if *poison { "died again: poison" } else { "consumed when redriven" };
            writeln!(
                f,
                "  {} {} (order {order}): {copies} copies, received {} times; {after}",
                d.queue, d.message_id, d.receive_count
            )?;
        }
        if messages.len() > LISTED {
            writeln!(f, "  ... and {} more", messages.len() - LISTED)?;
        }
        writeln!(f, "Stream records the outbox relay gave up on (its failure queue): {}", self.relay_give_ups)?;
        if self.relay_give_ups > 0 {
            writeln!(
                f,
                "  Their messages were not published: the relay gives a record up after its last retry and Lambda's\n  \
                 failure record says where it was, not what it held (README, \"A record the relay gives up on is not\n  \
                 published\"). No redrive can reach them; the orders they were about are among the violations."
            )?;
        }
        Ok(())
    }
}
