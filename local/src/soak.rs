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
pub mod journal;
pub mod plan;
pub mod report;
pub mod rng;
pub mod runner;
pub mod steps;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use orderflow_shared::adapters::durable::DATABASE_FILE;

pub use report::Report;

use self::driver::{Driver, Keeper, Tracked};
use self::faults::{Rates, SoakFaults, RATES};
use self::journal::Journal;
use self::runner::Runner;
use crate::runtime::{Backend, ClockMode, FaultPlan, Options as RuntimeOptions, Runtime};

/// Orders whose rounds run together (their messages mix in the queues). Each wave
/// takes a simulated day; waves run one after the other on one runtime.
pub const WAVE: usize = 500;

#[derive(Debug, Clone)]
pub struct Options {
    pub orders: usize,
    pub seed: u64,
    /// The durable backend in this directory: a new one, or one a soak of the same
    /// orders and seed was killed on (it carries on from its journal); `None`: in memory.
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
    let journal = match &options.data_dir {
        Some(dir) => Some(open_journal(dir, options)?),
        None => None,
    };
    let resumes = journal.as_ref().map_or(0, |j| j.resumes);
    // A run carried on draws other faults than the run it carries on.
    let faults = Arc::new(SoakFaults::new(options.seed ^ u64::from(resumes), rates));
    let rt = start(options, faults.clone()).await?;
    let reasons = plan::Reasons::of(&rt.deps.rules.audit);
    let mut orders: Vec<Tracked> =
        plan::plans(options.seed, options.orders, &reasons).into_iter().map(Tracked::new).collect();
    let runner = Runner::new(&rt, &faults);
    let (mut driver, before) = match (journal, &options.data_dir) {
        (Some(journal), Some(dir)) => {
            let before = (journal.injected, journal.elapsed_secs);
            let keeper =
                Keeper { dir: dir.clone(), journal, injected_before: before.0, elapsed_before: before.1, started };
            (Driver::keeping(runner, options.seed, keeper, &mut orders), before)
        }
        _ => (Driver::new(runner, options.seed), Default::default()),
    };
    for (index, wave) in orders.chunks_mut(WAVE).enumerate() {
        driver.wave(index, wave).await?;
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
        elapsed: started.elapsed() + std::time::Duration::from_secs_f64(before.1),
        resumes,
        states: checked.states,
        injected: faults.injected().plus(before.0),
        client_retries: driver.runner.retries,
        pump_errors: driver.runner.pump_errors,
        deliveries: driver.runner.deliveries,
        topics: digest.topics,
        dead_letters: driver.runner.dead,
        relay_give_ups,
        violations,
    })
}

/// The journal of a soak on `dir`: the one a killed run left (counted as carried on),
/// or a new one, saved before the database is made, so a directory with a database
/// and no journal is never a soak's.
fn open_journal(dir: &Path, options: &Options) -> Result<Journal, String> {
    if let Some(mut journal) = Journal::load(dir, options)? {
        journal.resumes += 1;
        journal.save(dir)?;
        return Ok(journal);
    }
    if dir.join(DATABASE_FILE).exists() {
        return Err(format!("{} already holds a database; give the soak a new directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let journal = Journal::new(options);
    journal.save(dir)?;
    Ok(journal)
}

/// The soak's runtime: the embedded backend (durable with a data directory), a manual
/// clock from a fixed start (or, on a data directory, where it was saved), and `faults`
/// injected.
pub async fn start(options: &Options, faults: Arc<SoakFaults>) -> Result<Runtime, String> {
    let start = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().ok_or("the soak's start time is invalid")?;
    Runtime::start(&RuntimeOptions {
        backend: Backend::Embedded,
        rules: None,
        clock: ClockMode::Manual { start },
        resource_prefix: String::new(),
        data_dir: options.data_dir.clone(),
        faults: FaultPlan(faults),
        sync: Default::default(),
        keep_published: None,
    })
    .await
}

/// `orderflow-local soak`: prints the report; fails on any violation. With `kills`,
/// the soak runs on its data directory in child processes of this program, `kills` of
/// them SIGKILLed ([`supervise`]).
pub async fn cli(options: Options, kills: u32) -> ExitCode {
    if kills > 0 {
        return match supervise(&options, kills) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("orderflow-local soak: {e}");
                ExitCode::from(2)
            }
        };
    }
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

/// The restart soak: runs `orderflow-local soak` on `options`' data directory as a
/// child process and kills it with SIGKILL at a seeded random instant, `kills` times,
/// each run carrying on from the journal and the database the killed one left; then
/// lets a last run finish, its report (and exit status) being the soak's. A killed
/// run's output goes to `soak-run-K.log` in the directory.
fn supervise(options: &Options, kills: u32) -> Result<ExitCode, String> {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let dir =
        options.data_dir.as_ref().ok_or("--kills needs --data-dir: a killed run carries on from the directory")?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program to run it again: {e}"))?;
    let args = |cmd: &mut Command| {
        cmd.args(["soak", "--orders", &options.orders.to_string(), "--seed", &options.seed.to_string(), "--data-dir"])
            .arg(dir);
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut rng = rng::Rng::new(options.seed, 9);
    for k in 1..=kills {
        let log_path = dir.join(format!("soak-run-{k}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let err = log.try_clone().map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut cmd = Command::new(&exe);
        args(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let after = Duration::from_millis(200 + rng.below(2000) as u64);
        let deadline = Instant::now() + after;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                // Finished before its kill came: its report is the soak's.
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                println!("{text}");
                println!("soak: run {k} finished before its kill; {} kills made", k - 1);
                return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // `Child::kill` sends SIGKILL on Unix: no handler runs, nothing is flushed.
        child.kill().map_err(|e| format!("cannot kill run {k}: {e}"))?;
        child.wait().map_err(|e| e.to_string())?;
        println!("soak: run {k} killed (SIGKILL) after {} ms", after.as_millis());
    }
    let mut cmd = Command::new(&exe);
    args(&mut cmd);
    let status = cmd.stdin(Stdio::null()).status().map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests;
