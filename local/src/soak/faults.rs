//! The soak's fault plan: a seeded [`Faults`] that delivers every queue message one to
//! five times, delays some so they overtake each other, crashes writers before and
//! after their store writes and publishers before and after their publishes, and fails
//! records of a batch before their consumer sees them. Switched off, it injects nothing
//! (the redrive of dead letters runs so).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use orderflow_shared::adapters::embedded::Faults;
use orderflow_shared::error::{Error, StoreError};
use orderflow_shared::ports::Write;

use super::rng::Rng;

/// How often each fault strikes, in parts per million.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Extra copies of a queued message (0 to 4) and the weight of each.
    pub extra_copies: [(u32, u32); 5],
    pub delayed: u32,
    /// A delayed message becomes visible 1 to this many seconds later.
    pub max_delay_secs: u32,
    pub crash_before_write: u32,
    pub crash_after_write: u32,
    pub crash_before_publish: u32,
    pub crash_after_publish: u32,
    pub failed_record: u32,
}

/// A write crashes one time in 20 (half before, half after it applies); a publish one
/// time in 50. Publishes are rarer because the outbox relay gives a stream record up
/// after 6 failed attempts in a row, and a record carries up to 4 messages.
pub const RATES: Rates = Rates {
    extra_copies: [(0, 50), (1, 25), (2, 12), (3, 8), (4, 5)],
    delayed: 300_000,
    max_delay_secs: 20,
    crash_before_write: 25_000,
    crash_after_write: 25_000,
    crash_before_publish: 10_000,
    crash_after_publish: 10_000,
    failed_record: 40_000,
};

/// What the plan injected, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Injected {
    pub extra_copies: u64,
    pub delayed: u64,
    pub crashes_before_write: u64,
    pub crashes_after_write: u64,
    pub crashes_before_publish: u64,
    pub crashes_after_publish: u64,
    pub failed_records: u64,
}

impl Injected {
    /// Both counts added, kind by kind.
    pub fn plus(self, other: Injected) -> Injected {
        Injected {
            extra_copies: self.extra_copies + other.extra_copies,
            delayed: self.delayed + other.delayed,
            crashes_before_write: self.crashes_before_write + other.crashes_before_write,
            crashes_after_write: self.crashes_after_write + other.crashes_after_write,
            crashes_before_publish: self.crashes_before_publish + other.crashes_before_publish,
            crashes_after_publish: self.crashes_after_publish + other.crashes_after_publish,
            failed_records: self.failed_records + other.failed_records,
        }
    }

    /// Every kind with its count, for the report.
    pub fn kinds(&self) -> [(&'static str, u64); 7] {
        [
            ("extra deliveries (copies queued)", self.extra_copies),
            ("delayed deliveries", self.delayed),
            ("crashes before a store write", self.crashes_before_write),
            ("crashes after a store write", self.crashes_after_write),
            ("crashes before a publish/send", self.crashes_before_publish),
            ("crashes after a publish/send", self.crashes_after_publish),
            ("batch records failed unseen", self.failed_records),
        ]
    }
}

pub struct SoakFaults {
    rates: Rates,
    on: AtomicBool,
    state: Mutex<(Rng, Injected)>,
}

impl SoakFaults {
    pub fn new(seed: u64, rates: Rates) -> SoakFaults {
        SoakFaults { rates, on: AtomicBool::new(true), state: Mutex::new((Rng::new(seed, 2), Injected::default())) }
    }

    pub fn switch(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }

    pub fn injected(&self) -> Injected {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Rng, Injected)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Draws with probability `ppm` while the plan is on, counting a hit in `count`.
    fn strike(&self, ppm: u32, count: fn(&mut Injected) -> &mut u64) -> bool {
        if !self.on.load(Ordering::SeqCst) {
            return false;
        }
        let mut state = self.lock();
        let hit = state.0.chance(ppm);
        if hit {
            *count(&mut state.1) += 1;
        }
        hit
    }
}

fn crash(what: &str) -> String {
    format!("injected crash {what}")
}

impl Faults for SoakFaults {
    fn extra_copies(&self, _queue: &str) -> u32 {
        if !self.on.load(Ordering::SeqCst) {
            return 0;
        }
        let mut state = self.lock();
        let extra = state.0.weighted(&self.rates.extra_copies).unwrap_or(0);
        state.1.extra_copies += u64::from(extra);
        extra
    }

    fn delivery_delay_secs(&self, _queue: &str) -> u32 {
        if !self.strike(self.rates.delayed, |i| &mut i.delayed) {
            return 0;
        }
        let mut state = self.lock();
        1 + state.0.below(self.rates.max_delay_secs as usize) as u32
    }

    fn before_write(&self, _write: &Write) -> Result<(), StoreError> {
        if self.strike(self.rates.crash_before_write, |i| &mut i.crashes_before_write) {
            return Err(StoreError::Backend(crash("before the write")));
        }
        Ok(())
    }

    fn after_write(&self, _write: &Write) -> Result<(), StoreError> {
        if self.strike(self.rates.crash_after_write, |i| &mut i.crashes_after_write) {
            return Err(StoreError::Backend(crash("after the write")));
        }
        Ok(())
    }

    fn before_publish(&self, destination: &str) -> Result<(), Error> {
        if self.strike(self.rates.crash_before_publish, |i| &mut i.crashes_before_publish) {
            return Err(Error::Publish(format!("{destination}: {}", crash("before the publish"))));
        }
        Ok(())
    }

    fn after_publish(&self, destination: &str) -> Result<(), Error> {
        if self.strike(self.rates.crash_after_publish, |i| &mut i.crashes_after_publish) {
            return Err(Error::Publish(format!("{destination}: {}", crash("after the publish"))));
        }
        Ok(())
    }

    fn fail_record(&self, _queue: &str, _message_id: &str) -> bool {
        self.strike(self.rates.failed_record, |i| &mut i.failed_records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switched_off_the_plan_injects_nothing() {
        let faults = SoakFaults::new(1, RATES);
        faults.switch(false);
        for _ in 0..1000 {
            assert_eq!(faults.extra_copies("q"), 0);
            assert_eq!(faults.delivery_delay_secs("q"), 0);
            assert!(faults.before_publish("t").is_ok() && !faults.fail_record("q", "m"));
        }
        assert_eq!(faults.injected(), Injected::default());
    }

    #[test]
    fn the_same_seed_injects_the_same_faults() {
        let run = || {
            let faults = SoakFaults::new(3, RATES);
            let copies: Vec<u32> = (0..200).map(|_| faults.extra_copies("q")).collect();
            let failed = (0..200).filter(|_| faults.fail_record("q", "m")).count();
            (copies, failed, faults.injected())
        };
        let (copies, failed, injected) = run();
        assert_eq!(run(), (copies.clone(), failed, injected));
        assert!(copies.iter().all(|c| *c <= 4) && copies.iter().any(|c| *c > 0));
        assert!(failed > 0);
    }
}
