//! `orderflow-local soak` in process: a few hundred orders through every flow on the
//! embedded backend, and a few dozen on the durable backend, under duplicated, delayed
//! and failed deliveries and crashes around writes and publishes. Every order must end
//! as its plan says, with every effect once; the run's report says what was injected.

use orderflow_local::soak::{self, Options, Report};
use orderflow_shared::adapters::aws::moto::unique_name;

fn injected_every_kind(report: &Report, publishes: bool) {
    for (kind, n) in report.injected.kinds() {
        let expected = publishes || !kind.contains("publish");
        assert!(!expected || n > 0, "no {kind} injected:\n{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_in_memory_loses_and_doubles_no_effect() {
    let report = soak::run(&Options { orders: 800, seed: 1, data_dir: None }).await.expect("the soak runs");
    assert!(report.passed(), "{report}");
    injected_every_kind(&report, true);
    assert!(report.client_retries > 0, "{report}");
}

/// The durable bus does not run the publish hooks: only the in-memory one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_on_the_durable_backend_loses_and_doubles_no_effect() {
    let dir = std::env::temp_dir().join(unique_name("soak"));
    let options = Options { orders: 40, seed: 2, data_dir: Some(dir.clone()) };
    let report = soak::run(&options).await;
    let _ = std::fs::remove_dir_all(&dir);
    let report = report.expect("the soak runs");
    assert!(report.passed(), "{report}");
    injected_every_kind(&report, false);
}
