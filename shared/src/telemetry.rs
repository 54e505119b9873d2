//! Logging set-up shared by every binary.

use tracing_subscriber::EnvFilter;

/// Structured logs: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), human
/// readable otherwise; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    init_with_default("info");
}

/// As [`init`], with another level when `RUST_LOG` is unset.
pub fn init_with_default(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = if json {
        builder.json().flatten_event(true).without_time().with_current_span(false).try_init()
    } else {
        builder.with_ansi(false).with_writer(std::io::stderr).try_init()
    };
    // Already initialised (tests, embedding): keep the existing subscriber.
    drop(result);
}
