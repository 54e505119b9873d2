//! The run of one entry: proptest generates inputs (and shrinks a failing one to a
//! minimal example), each case runs in its own tokio task so a panic anywhere in it is
//! caught, and distinct failures are collected and reported together at the end.
//!
//! Budget: `FUZZ_CASES` cases per entry (a bounded run with a fixed seed, `FUZZ_SEED`
//! to change it), or `FUZZ_MINUTES` of wall-clock for the whole run, shared among the
//! entries (random seeds, rounds of 64 cases until the time is up).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::capture;

/// How long one case may take before it counts as hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a case failed. Failures with the same `signature` are the same bug.
#[derive(Debug, Clone)]
pub struct Failure {
    pub signature: String,
    pub detail: String,
}

impl Failure {
    pub fn new(signature: impl Into<String>, detail: impl Into<String>) -> Failure {
        Failure { signature: signature.into(), detail: detail.into() }
    }
}

struct Found {
    failure: Failure,
    input: String,
}

#[derive(Default)]
struct Counts {
    cases: Cell<u64>,
    shrinking: Cell<u64>,
    repeats: Cell<u64>,
}

enum Budget {
    Cases(u64),
    Until(Instant),
}

impl Budget {
    fn from_env(default_cases: u32) -> Budget {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(minutes) = number("FUZZ_MINUTES") {
            let threads = number("RUST_TEST_THREADS")
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64));
            let share = minutes * 60.0 * threads.min(f64::from(crate::ENTRIES)) / f64::from(crate::ENTRIES);
            return Budget::Until(Instant::now() + Duration::from_secs_f64(share.max(1.0)));
        }
        Budget::Cases(number("FUZZ_CASES").map_or(u64::from(default_cases), |n| n as u64))
    }

    /// Distinct failures after which an entry stops looking for more, and how long one
    /// failure may be shrunk (ms): a bounded run stays short even while bugs are open.
    fn limits(&self) -> (usize, u32) {
        match self {
            Budget::Cases(_) => (5, 10_000),
            Budget::Until(_) => (25, 30_000),
        }
    }

    fn over(&self, counts: &Counts) -> bool {
        match self {
            Budget::Cases(n) => counts.cases.get() >= *n,
            Budget::Until(t) => Instant::now() >= *t,
        }
    }
}

fn seed(entry: &str, round: u64, budget: &Budget) -> TestRng {
    let mut hasher = match budget {
        Budget::Cases(_) => {
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher()
        }
        Budget::Until(_) => std::collections::hash_map::RandomState::new().build_hasher(),
    };
    (std::env::var("FUZZ_SEED").unwrap_or_default(), entry, round).hash(&mut hasher);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        let word = hasher.finish();
        chunk.copy_from_slice(&word.to_le_bytes());
        word.hash(&mut hasher);
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Fuzzes `entry`: runs `case` on inputs from `strategy` within the budget, and fails
/// the test listing every distinct failure with its minimal input.
pub fn fuzz<S, F, Fut>(entry: &str, default_cases: u32, strategy: S, case: F)
where
    S: Strategy,
    S::Value: Clone + Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    fuzz_within(entry, Budget::from_env(default_cases), strategy, case);
}

/// One entry's run: what it fuzzes, and what it has seen so far.
struct Run<'a, S, F> {
    entry: &'a str,
    budget: Budget,
    strategy: S,
    case: F,
    tokio: tokio::runtime::Runtime,
    counts: Counts,
    /// Signatures already reported: met again, they count as repeats, not failures.
    known: HashSet<String>,
}

enum Round {
    Clean,
    Found(Found),
    Aborted(Found),
}

fn fuzz_within<S, F, Fut>(entry: &str, budget: Budget, strategy: S, case: F)
where
    S: Strategy,
    S::Value: Clone + Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    capture::install();
    let started = Instant::now();
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let mut run = Run { entry, budget, strategy, case, tokio, counts: Counts::default(), known: HashSet::new() };
    let (max_failures, _) = run.budget.limits();
    let (panics_before, mut found) = (capture::thread_panics(), Vec::new());
    capture::take_tally();
    for round in 0.. {
        if run.budget.over(&run.counts) || found.len() >= max_failures {
            break;
        }
        match run.round(round) {
            Round::Clean if matches!(run.budget, Budget::Cases(_)) => break,
            Round::Clean => {}
            Round::Found(f) => {
                run.known.insert(f.failure.signature.clone());
                found.push(f);
            }
            Round::Aborted(f) => {
                found.push(f);
                break;
            }
        }
    }
    let panics = capture::thread_panics() - panics_before;
    report(entry, &run.counts, panics, &found, started.elapsed());
}

impl<S, F, Fut> Run<'_, S, F>
where
    S: Strategy,
    S::Value: Clone + Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    /// One proptest run: cases until the first new failure, which is then shrunk while
    /// it keeps failing the same way (a simpler input that fails otherwise is not it).
    fn round(&self, round: u64) -> Round {
        let cases = match self.budget {
            Budget::Cases(n) => n.saturating_sub(self.counts.cases.get()) as u32,
            Budget::Until(_) => 64,
        };
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 400,
            max_shrink_time: self.budget.limits().1,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, seed(self.entry, round, &self.budget));
        let target: RefCell<Option<Failure>> = RefCell::new(None);
        let result = runner.run(&self.strategy, |input| self.check(input, &target));
        match result {
            Ok(()) => Round::Clean,
            Err(TestError::Fail(_, minimal)) => {
                let Some(mut failure) = target.into_inner() else { return Round::Clean };
                if failure.signature.starts_with("panic") {
                    if let Err(again) = run_case(&self.tokio, (self.case)(minimal.clone()), true) {
                        failure.detail = again.detail;
                    }
                }
                Round::Found(Found { failure, input: format!("{minimal:?}") })
            }
            Err(TestError::Abort(reason)) => {
                Round::Aborted(Found { failure: Failure::new("aborted", reason.to_string()), input: String::new() })
            }
        }
    }

    fn check(&self, input: S::Value, target: &RefCell<Option<Failure>>) -> Result<(), TestCaseError> {
        let shrinking = target.borrow().is_some();
        if !shrinking && self.budget.over(&self.counts) {
            return Ok(());
        }
        let counter = if shrinking { &self.counts.shrinking } else { &self.counts.cases };
        counter.set(counter.get() + 1);
        let Err(failure) = run_case(&self.tokio, (self.case)(input), false) else { return Ok(()) };
        if self.known.contains(&failure.signature) {
            self.counts.repeats.set(self.counts.repeats.get() + 1);
            return Ok(());
        }
        let mut target = target.borrow_mut();
        match target.as_ref() {
            Some(t) if t.signature != failure.signature => Ok(()),
            _ => {
                *target = Some(failure);
                Err(TestCaseError::fail("failed"))
            }
        }
    }
}

fn run_case<Fut>(tokio: &tokio::runtime::Runtime, case: Fut, frames: bool) -> Result<(), Failure>
where
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    capture::begin_case(frames);
    let panics_before = capture::thread_panics();
    let local = tokio::task::LocalSet::new();
    let joined =
        local.block_on(tokio, async move { tokio::task::spawn_local(tokio::time::timeout(CASE_TIMEOUT, case)).await });
    let outcome = match joined {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Failure::new("hung", format!("the case did not finish within {CASE_TIMEOUT:?}"))),
        Err(e) if e.is_panic() => {
            let text = capture::last_panic().unwrap_or_else(|| "panic (no message)".into());
            let signature = text.lines().next().unwrap_or_default().split(": ").next().unwrap_or_default().to_string();
            Err(Failure::new(signature, format!("{text}\n  logs: {}", capture::logs(1500))))
        }
        Err(e) => Err(Failure::new("cancelled", e.to_string())),
    };
    let swallowed = capture::thread_panics() > panics_before && outcome.is_ok();
    capture::end_case();
    match capture::last_panic() {
        Some(text) if swallowed => Err(Failure::new("panic caught inside the code under test", text)),
        _ => outcome,
    }
}

fn report(entry: &str, counts: &Counts, panics: u64, found: &[Found], took: Duration) {
    println!(
        "fuzz summary: entry={entry:?} cases={} shrinking={} repeats={} panics={panics} failures={} seconds={:.1} outcomes: {}",
        counts.cases.get(),
        counts.shrinking.get(),
        counts.repeats.get(),
        found.len(),
        took.as_secs_f64(),
        capture::take_tally(),
    );
    let stray = capture::stray_panics();
    if found.is_empty() && stray == 0 {
        return;
    }
    let mut text = format!("{entry}: {} distinct failures, {stray} panics outside any case\n", found.len());
    for (i, f) in found.iter().enumerate() {
        text.push_str(&format!(
            "\n[{}] {}\n  input: {}\n  {}\n",
            i + 1,
            f.failure.signature,
            f.input,
            f.failure.detail
        ));
    }
    capture::reporting();
    panic!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: a panic deep in an awaited call, and one in a task the code
    /// under test spawned and never awaited, are both found and shrunk.
    #[test]
    #[should_panic(expected = "input: 500")]
    fn a_panic_in_the_code_under_test_is_found_and_shrunk() {
        fuzz_within("self-test", Budget::Cases(200), 0u32..1000, |n| async move {
            tokio::task::yield_now().await;
            assert!(n < 500, "boom");
            Ok(())
        });
    }

    #[test]
    #[should_panic(expected = "panic caught inside the code under test")]
    fn a_panic_in_a_task_nobody_awaits_is_found() {
        fuzz_within("self-test", Budget::Cases(50), 0u32..1000, |n| async move {
            let task = tokio::task::spawn_local(async move { assert!(n < 500, "boom") });
            let _ = task.await;
            Ok(())
        });
    }
}
