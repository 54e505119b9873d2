use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::Level;

use super::*;

/// What the logs would show with these settings, for one event per (target, level).
fn written(rust_log: Option<&str>, sdk_log: Option<&str>, emit: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let Filters { env, sdk_cap, .. } = filters(rust_log, sdk_log, "info");
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .with(sdk_cap);
    tracing::subscriber::with_default(subscriber, emit);
    let bytes = capture.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

fn sdk_events() {
    tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "sdk-trace");
    tracing::debug!(target: "aws_sdk_dynamodb::operation", "sdk-debug");
    tracing::info!(target: "aws_config::profile", "sdk-info");
    tracing::trace!(target: "hyper_util::client", "transport-trace");
    tracing::trace!(target: "lambda_runtime::layers::api_response", "raw-event-trace");
    tracing::trace!(target: "risk_check::orders", "app-trace");
}

#[test]
fn rust_log_trace_keeps_the_sdk_at_info() {
    let logs = written(Some("trace"), None, sdk_events);
    assert!(logs.contains("app-trace") && logs.contains("sdk-info"), "{logs}");
    for hidden in ["sdk-trace", "sdk-debug", "transport-trace", "raw-event-trace"] {
        assert!(!logs.contains(hidden), "{hidden} leaked: {logs}");
    }
}

#[test]
fn a_directive_naming_an_sdk_target_does_not_lift_the_cap() {
    let rust_log = "aws_smithy_runtime::client=trace,aws_sdk_dynamodb=trace,[request]=trace,info";
    let logs = written(Some(rust_log), None, || tracing::info_span!("request").in_scope(sdk_events));
    assert!(logs.contains("app-trace"), "the span directive is in force: {logs}");
    assert!(!logs.contains("sdk-trace") && !logs.contains("sdk-debug"), "{logs}");
    assert!(logs.contains("sdk-info"), "{logs}");
}

#[test]
fn orderflow_sdk_log_sets_the_sdk_level() {
    let logs = written(Some("info"), Some("trace"), sdk_events);
    for shown in ["sdk-trace", "sdk-debug", "transport-trace", "raw-event-trace"] {
        assert!(logs.contains(shown), "{shown} missing: {logs}");
    }
    assert!(!logs.contains("app-trace"), "RUST_LOG still rules the rest: {logs}");
    let logs = written(Some("trace"), Some("debug"), sdk_events);
    assert!(logs.contains("sdk-debug") && !logs.contains("sdk-trace"), "{logs}");
    let logs = written(Some("trace"), Some("warn"), sdk_events);
    assert!(!logs.contains("sdk-info") && logs.contains("app-trace"), "{logs}");
}

#[test]
fn a_bad_orderflow_sdk_log_keeps_the_cap_and_says_so() {
    let problem = filters(Some("trace"), Some("loud"), "info").problem.unwrap_or_default();
    assert!(problem.contains("ORDERFLOW_SDK_LOG") && problem.contains("loud"), "{problem}");
    let logs = written(Some("trace"), Some("loud"), sdk_events);
    assert!(!logs.contains("sdk-debug") && logs.contains("app-trace"), "{logs}");
    assert!(filters(None, Some(" "), "info").problem.is_none());
}

#[test]
fn without_rust_log_the_default_level_applies() {
    let logs = written(None, None, sdk_events);
    assert!(logs.contains("sdk-info") && !logs.contains("app-trace"), "{logs}");
    let logs = written(Some("not=a=filter"), None, sdk_events);
    assert!(logs.contains("sdk-info") && !logs.contains("app-trace"), "{logs}");
}

#[test]
fn the_cap_covers_every_sdk_crate_and_nothing_of_ours() {
    let cap = filters(Some("trace"), None, "info").sdk_cap;
    for target in SDK_TARGETS {
        assert!(!cap.would_enable(&format!("{target}::inner"), &Level::DEBUG), "{target}");
        assert!(cap.would_enable(target, &Level::INFO), "{target}");
    }
    for ours in ["orderflow_shared::adapters::aws::dynamodb", "orderflow_local::server", "risk_check", "notifier"] {
        assert!(cap.would_enable(ours, &Level::TRACE), "{ours}");
    }
    assert_eq!(sdk_directives(LevelFilter::DEBUG)[0], "aws_config=debug");
}
