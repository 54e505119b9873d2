//! The soak's hands on the runtime: requests through the router with the retries a
//! client makes, settling the queues while delayed deliveries wait for the manual
//! clock, moving the clock with the schedule's ticks, and redriving dead letters.
//!
//! `/_local/settle` and `/_local/clock/advance` are not used: they wait for in-flight
//! messages in real time, and a delayed delivery on a manual clock only becomes visible
//! when the clock moves.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use orderflow_shared::ports::ReceivedMessage;
use serde_json::Value;

use super::faults::SoakFaults;
use crate::runtime::Runtime;
use crate::{functions, pump, router};

/// Attempts of a request answered 5xx before the client gives up.
pub const ATTEMPTS: u32 = 20;
/// How far the clock moves when only delayed messages are left.
const DELAY_STEP_SECS: i64 = 5;
/// Clock moves in a row without a message becoming visible before settling gives up.
const IDLE_STEPS: u32 = 1000;
/// Pump passes in a row that fail (a send to the relay's failure queue crashing).
const PUMP_ERRORS: u32 = 1000;
/// Schedule ticks that may still find work once every order is done.
const DRAIN_TICKS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A message that reached a dead-letter queue, and what its redrive did.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub queue: &'static str,
    pub message_id: String,
    pub order: Option<String>,
    pub receive_count: u32,
    /// Died again when redriven with the faults off: a cause no retry cures.
    pub poison: bool,
}

pub struct Runner<'a> {
    pub rt: &'a Runtime,
    pub faults: &'a SoakFaults,
    /// Requests sent again after a 5xx.
    pub retries: u64,
    /// Pump passes that failed and were run again.
    pub pump_errors: u64,
    /// Records handed to the functions (queue records and stream records).
    pub deliveries: u64,
    pub dead: Vec<DeadLetter>,
    /// Dead letters that died again when moved back: they stay where they are.
    pub poisoned: BTreeSet<(&'static str, String)>,
}

impl<'a> Runner<'a> {
    pub fn new(rt: &'a Runtime, faults: &'a SoakFaults) -> Runner<'a> {
        Runner { rt, faults, retries: 0, pump_errors: 0, deliveries: 0, dead: Vec::new(), poisoned: BTreeSet::new() }
    }

    /// Sends a request as a client does: again, with the same body, while it is answered
    /// 5xx, at most [`ATTEMPTS`] times. Returns the last answer.
    pub async fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let bytes = body.map(Value::to_string).unwrap_or_default();
        let mut attempt = 1;
        loop {
            let reply = router::handle(self.rt, method, path, bytes.as_bytes()).await;
            if reply.status < 500 || attempt >= ATTEMPTS {
                let body = serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body));
                return Answer { status: reply.status, body };
            }
            attempt += 1;
            self.retries += 1;
        }
    }

    /// One pass of the event source mappings, with the faults failing batch records.
    pub async fn pump(&mut self) -> Result<usize, String> {
        let handled = pump::pump_once_with(self.rt, self.faults).await?;
        self.deliveries += handled as u64;
        Ok(handled)
    }

    /// Pumps until the change stream is relayed and every queue is empty, moving the
    /// clock on when only delayed deliveries are left.
    pub async fn settle(&mut self) -> Result<(), String> {
        let failures = self.rt.topology.stream.failure_queue.name;
        let (mut idle, mut errors) = (0, 0);
        loop {
            match self.pump().await {
                Ok(0) => {}
                Ok(_) => {
                    (idle, errors) = (0, 0);
                    continue;
                }
                Err(e) => {
                    (self.pump_errors, errors) = (self.pump_errors + 1, errors + 1);
                    if errors >= PUMP_ERRORS {
                        return Err(format!("the pump failed {errors} times in a row: {e}"));
                    }
                    continue;
                }
            }
            // The relay's failure queue has no consumer: what waits there is for a person.
            let stats: Vec<_> = self.rt.queue_stats().await?.into_iter().filter(|s| s.name != failures).collect();
            let busy: usize = stats.iter().map(|s| s.visible + s.in_flight).sum();
            if busy == 0 {
                return Ok(());
            }
            if stats.iter().all(|s| s.visible == 0) {
                idle += 1;
                if idle > IDLE_STEPS {
                    return Err(format!("{busy} messages never became visible"));
                }
                self.rt.advance_clock(Duration::seconds(DELAY_STEP_SECS))?;
            }
        }
    }

    /// Moves the clock on to `target`, firing the schedules at every tick that has work
    /// and settling after each, as `POST /_local/clock/advance` does.
    pub async fn advance_until(&mut self, target: DateTime<Utc>) -> Result<(), String> {
        self.settle().await?;
        let mut last = None;
        while let Some(at) = self.next_tick(last).await?.filter(|at| *at <= target) {
            self.tick_at(at).await?;
            last = Some(at);
        }
        let now = self.rt.now();
        if target > now {
            self.rt.advance_clock(target - now)?;
        }
        self.settle().await
    }

    /// Ticks until the schedule has nothing left to do; `false` if it still has.
    pub async fn drain_schedule(&mut self) -> Result<bool, String> {
        let mut last = None;
        for _ in 0..DRAIN_TICKS {
            let Some(at) = self.next_tick(last).await? else { return Ok(true) };
            self.tick_at(at).await?;
            last = Some(at);
        }
        Ok(false)
    }

    async fn tick_at(&mut self, at: DateTime<Utc>) -> Result<(), String> {
        let now = self.rt.now();
        if at > now {
            self.rt.advance_clock(at - now)?;
        }
        pump::fire_schedules(self.rt).await?;
        self.settle().await
    }

    /// The first tick after `after` (and not before now) at which a schedule has work;
    /// work still due after its tick (a crashed item) waits for the following one.
    async fn next_tick(&self, after: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, String> {
        let mut next: Option<DateTime<Utc>> = None;
        for schedule in self.rt.topology.schedules {
            let Some(due) = functions::next_due(&self.rt.deps, schedule.function).await? else { continue };
            let period = pump::rate_seconds(schedule.expression).unwrap_or(60);
            let mut at = pump::align_up(due.max(self.rt.now()), period);
            if let Some(after) = after.filter(|a| at <= *a) {
                at = after + Duration::seconds(period);
            }
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        Ok(next)
    }

    /// Moves every new dead letter back onto its queue ([`orderflow_shared::ports::Broker::redrive`], as a person
    /// would once the cause is fixed) with the faults off and settles; one that dies
    /// again is poison, and stays in its dead-letter queue. Returns how many were moved.
    pub async fn redrive(&mut self) -> Result<usize, String> {
        let fresh = self.new_dead_letters().await?;
        if fresh.is_empty() {
            return Ok(0);
        }
        self.faults.switch(false);
        let moved = self.move_back(&fresh).await;
        let settled = match moved {
            Ok(()) => self.settle().await,
            Err(e) => Err(e),
        };
        let again = self.new_dead_letters().await;
        self.faults.switch(true);
        settled?;
        let again: BTreeSet<(&'static str, String)> = again?.into_iter().map(|(q, m)| (q, m.message_id)).collect();
        let count = fresh.len();
        for (queue, m) in fresh {
            let poison = again.contains(&(queue, m.message_id.clone()));
            if poison {
                self.poisoned.insert((queue, m.message_id.clone()));
            }
            self.dead.push(DeadLetter {
                queue,
                order: order_of(&m.body),
                poison,
                message_id: m.message_id,
                receive_count: m.receive_count,
            });
        }
        Ok(count)
    }

    async fn move_back(&self, fresh: &[(&'static str, ReceivedMessage)]) -> Result<(), String> {
        let queues: BTreeSet<&'static str> = fresh.iter().map(|(q, _)| *q).collect();
        for queue in queues {
            self.rt.broker().redrive(queue, usize::MAX).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The dead letters of every queue but those already found poison.
    async fn new_dead_letters(&self) -> Result<Vec<(&'static str, ReceivedMessage)>, String> {
        let mut fresh = Vec::new();
        for queue in self.rt.topology.queues {
            let dead = self.rt.dead_letters(queue.name).await?.unwrap_or_default();
            let new = dead.into_iter().filter(|m| !self.poisoned.contains(&(queue.name, m.message_id.clone())));
            fresh.extend(new.map(|m| (queue.name, m)));
        }
        Ok(fresh)
    }

    /// Records the stream relay gave up on (its failure queue).
    pub async fn relay_give_ups(&self) -> Result<usize, String> {
        let failures = self.rt.topology.stream.failure_queue.name;
        let stats = self.rt.queue_stats().await?;
        Ok(stats.iter().filter(|s| s.name == failures).map(|s| s.visible + s.in_flight).sum())
    }
}

/// The order a queued body is about: an audit result in its SNS envelope, an order
/// event, a notification request or a status report.
pub fn order_of(body: &str) -> Option<String> {
    let mut value: Value = serde_json::from_str(body).ok()?;
    if let Some(inner) = value.get("Message").and_then(Value::as_str) {
        value = serde_json::from_str(inner).ok()?;
    }
    let candidates = [&value["data"]["order_id"], &value["order_id"], &value["order"]["order_id"]];
    let order = candidates.into_iter().find_map(|v| v.as_str().map(str::to_string));
    order
}

#[cfg(test)]
mod tests {
    use super::order_of;

    #[test]
    fn the_order_of_every_queued_shape_is_found() {
        let envelope = serde_json::json!({"Type": "Notification", "Message": "{\"data\":{\"order_id\":\"o-1\"}}"});
        assert_eq!(order_of(&envelope.to_string()).as_deref(), Some("o-1"));
        assert_eq!(order_of(r#"{"order_id":"o-2","system":"payment"}"#).as_deref(), Some("o-2"));
        assert_eq!(order_of(r#"{"order":{"order_id":"o-3"}}"#).as_deref(), Some("o-3"));
        assert_eq!(order_of("not json"), None);
    }
}
