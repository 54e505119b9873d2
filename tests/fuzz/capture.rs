//! What a case leaves behind besides its answer: every panic (counted process-wide, and
//! described with its location and the first frames in this workspace) and the warning
//! and error logs, so a `500` says which error caused it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// Panics on threads that were not running a case (a thread spawned by the code under
/// test, say): they would otherwise go unnoticed.
static STRAY_PANICS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static REPORTING: Cell<bool> = const { Cell::new(false) };
    static WANT_FRAMES: Cell<bool> = const { Cell::new(false) };
    static THREAD_PANICS: Cell<u64> = const { Cell::new(0) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static LOGS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static TALLY: RefCell<BTreeMap<String, u64>> = const { RefCell::new(BTreeMap::new()) };
}

/// Counts an outcome of a case (an answer's status, a record dead-lettered), so the
/// summary shows how far the inputs got.
pub fn tally(outcome: impl Into<String>) {
    TALLY.with(|t| *t.borrow_mut().entry(outcome.into()).or_default() += 1);
}

/// The outcomes counted on this thread since the last call, as `201×40 422×160`.
pub fn take_tally() -> String {
    let tally = TALLY.with(|t| std::mem::take(&mut *t.borrow_mut()));
    tally.iter().map(|(k, n)| format!("{k}×{n}")).collect::<Vec<_>>().join(" ")
}

pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            if !IN_CASE.with(Cell::get) {
                if !REPORTING.with(Cell::get) {
                    STRAY_PANICS.fetch_add(1, Ordering::SeqCst);
                }
                eprintln!("{info}");
                return;
            }
            THREAD_PANICS.with(|n| n.set(n.get() + 1));
            let location = info.location().map_or_else(|| "unknown location".into(), |l| l.to_string());
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let mut text = format!("panic at {location}: {message}");
            if WANT_FRAMES.with(Cell::get) {
                text.push_str(&workspace_frames());
            }
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            if std::env::var_os("FUZZ_VERBOSE").is_some() {
                eprintln!("{info}");
            }
        }));
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_max_level(tracing::Level::WARN)
            .without_time()
            .with_ansi(false)
            .try_init();
    });
}

/// Panics in the cases this thread ran.
pub fn thread_panics() -> u64 {
    THREAD_PANICS.with(Cell::get)
}

pub fn stray_panics() -> usize {
    STRAY_PANICS.load(Ordering::SeqCst)
}

/// Marks this thread as running a case (panics are the case's) and clears what the
/// previous case left.
pub fn begin_case(frames: bool) {
    IN_CASE.with(|c| c.set(true));
    WANT_FRAMES.with(|c| c.set(frames));
    LAST_PANIC.with(|p| p.borrow_mut().take());
    LOGS.with(|l| l.borrow_mut().clear());
}

pub fn end_case() {
    IN_CASE.with(|c| c.set(false));
}

/// The harness is about to fail the test on purpose: not a stray panic.
pub fn reporting() {
    REPORTING.with(|c| c.set(true));
}

pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// The case's warning and error logs, at most `max` characters.
pub fn logs(max: usize) -> String {
    LOGS.with(|l| String::from_utf8_lossy(&l.borrow()).chars().take(max).collect())
}

/// The first frames of the panicking stack that are code of this workspace (not the
/// standard library, a dependency or this harness).
fn workspace_frames() -> String {
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let lines: Vec<&str> = trace.lines().collect();
    let mut frames = Vec::new();
    for pair in lines.windows(2) {
        let (function, at) = (pair[0].trim(), pair[1].trim());
        let Some(path) = at.strip_prefix("at ") else { continue };
        let foreign = path.starts_with("/rustc/") || path.contains("/.cargo/") || path.contains("tests/fuzz/");
        if !foreign && frames.len() < 4 {
            let function = function.split_once(": ").map_or(function, |(_, f)| f);
            frames.push(format!("\n    {function} ({path})"));
        }
    }
    frames.concat()
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.with(|l| {
            let mut logs = l.borrow_mut();
            if logs.len() < 64 * 1024 {
                logs.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
