//! `orderflow-local soak`: many orders through the whole chain under injected faults,
//! then a check that nothing was lost or done twice.
//!
//! The orders follow seeded plans ([`plan`]) on the embedded backend with a manual
//! clock, in waves of [`WAVE`] orders whose steps interleave round by round
//! ([`steps`], [`driver`]), while a seeded fault plan ([`faults`]) duplicates and delays
//! every queue delivery, crashes writers around their store writes and publishers
//! around their publishes, and fails batch records unseen. Clients retry what was
//! answered 5xx ([`runner`]). Dead letters are redriven with the faults off after every
//! round. Then the checker ([`check`], over a [`digest`] of everything published)
//! holds every order to what its plan must lead to ([`expect`]).
//!
//! Everything but the refund ids (random by design) follows from the seed.
//!
//! - [`rng`]: the seeded generator.
//! - [`bodies`]: the requests and messages sent.
//! - [`report`]: the tables printed.

pub mod bodies;
pub mod check;
pub mod digest;
pub mod driver;
pub mod expect;
pub mod faults;
pub mod plan;
pub mod report;
pub mod rng;
pub mod runner;
pub mod steps;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use orderflow_shared::adapters::durable::DATABASE_FILE;

pub use report::Report;

use self::driver::{Driver, Tracked};
use self::faults::{Rates, SoakFaults, RATES};
use self::runner::Runner;
use crate::runtime::{Backend, ClockMode, FaultPlan, Options as RuntimeOptions, Runtime};

/// Orders whose rounds run together (their messages mix in the queues). Each wave
/// takes a simulated day; waves run one after the other on one runtime.
pub const WAVE: usize = 500;

#[derive(Debug, Clone)]
pub struct Options {
    pub orders: usize,
    pub seed: u64,
    /// The durable backend in this directory (which must not hold a database yet);
    /// `None`: in memory.
    pub data_dir: Option<PathBuf>,
}

/// Something the checker or the client found wrong, about an order or the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub order: Option<String>,
    pub what: String,
}

impl Violation {
    pub fn order(order: &str, what: String) -> Violation {
        Violation { order: Some(order.to_string()), what }
    }

    pub fn run(what: &str) -> Violation {
        Violation { order: None, what: what.to_string() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.order {
            Some(order) => write!(f, "{order}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// Runs the soak with the fault [`RATES`]; an error when the runtime cannot start or
/// its queues stop settling.
pub async fn run(options: &Options) -> Result<Report, String> {
    run_with(options, RATES).await
}

/// As [`run`], with other fault rates.
pub async fn run_with(options: &Options, rates: Rates) -> Result<Report, String> {
    let started = Instant::now();
    let faults = Arc::new(SoakFaults::new(options.seed, rates));
    let rt = start(options, faults.clone()).await?;
    let reasons = plan::Reasons::of(&rt.deps.rules.audit);
    let mut orders: Vec<Tracked> =
        plan::plans(options.seed, options.orders, &reasons).into_iter().map(Tracked::new).collect();
    let mut driver = Driver::new(Runner::new(&rt, &faults), options.seed);
    for wave in orders.chunks_mut(WAVE) {
        driver.wave(wave).await?;
    }
    faults.switch(false);
    let relay_give_ups = driver.runner.relay_give_ups().await?;
    let mut digest = digest::Digest::read(&rt).await?;
    let checked = check::check(&rt, &orders, &mut digest).await;
    let mut violations = driver.violations;
    violations.extend(checked.violations);
    let poison = driver.runner.dead.iter().filter(|d| d.poison);
    violations.extend(poison.map(|d| {
        let what = format!("{} {} died again when redriven with the faults off", d.queue, d.message_id);
        Violation { order: d.order.clone(), what }
    }));
    Ok(Report {
        orders: options.orders,
        seed: options.seed,
        backend: match &options.data_dir {
            Some(dir) => format!("durable embedded backend in {}", dir.display()),
            None => "embedded backend in memory".into(),
        },
        elapsed: started.elapsed(),
        states: checked.states,
        injected: faults.injected(),
        client_retries: driver.runner.retries,
        pump_errors: driver.runner.pump_errors,
        deliveries: driver.runner.deliveries,
        topics: digest.topics,
        dead_letters: driver.runner.dead,
        relay_give_ups,
        violations,
    })
}

/// The soak's runtime: the embedded backend (durable with a data directory), a manual
/// clock from a fixed start, and `faults` injected.
pub async fn start(options: &Options, faults: Arc<SoakFaults>) -> Result<Runtime, String> {
    if let Some(dir) = &options.data_dir {
        if dir.join(DATABASE_FILE).exists() {
            return Err(format!("{} already holds a database; give the soak a new directory", dir.display()));
        }
    }
    let start = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().ok_or("the soak's start time is invalid")?;
    Runtime::start(&RuntimeOptions {
        backend: Backend::Embedded,
        rules: None,
        clock: ClockMode::Manual { start },
        resource_prefix: String::new(),
        data_dir: options.data_dir.clone(),
        faults: FaultPlan(faults),
    })
    .await
}

/// `orderflow-local soak`: prints the report; fails on any violation.
pub async fn cli(options: Options) -> ExitCode {
    println!("soak: {} orders, seed {} ...", options.orders, options.seed);
    match run(&options).await {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("orderflow-local soak: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests;
