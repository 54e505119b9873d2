//! Logging set-up shared by every binary.
//!
//! The AWS SDK, its HTTP stack and the Lambda runtime client log whole requests and
//! responses at `debug` and `trace`: DynamoDB items with the orders' contact data, raw
//! Lambda events. So whatever `RUST_LOG` enables, their targets log at `info` at most,
//! unless [`SDK_LOG_VAR`] names a level for them.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Names the level of [`SDK_TARGETS`] (`trace`, `debug`, `info`, `warn`, `error`, `off`).
pub const SDK_LOG_VAR: &str = "ORDERFLOW_SDK_LOG";

/// The level of [`SDK_TARGETS`] when [`SDK_LOG_VAR`] is unset.
pub const SDK_DEFAULT_CAP: LevelFilter = LevelFilter::INFO;

/// Crates that log payloads. A target matches every target it is a prefix of, so
/// `aws_smithy_runtime` covers `aws_smithy_runtime::client::orchestrator` and
/// `aws_smithy_runtime_api`, and `hyper` covers `hyper_util`.
pub const SDK_TARGETS: &[&str] = &[
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sdk_dynamodb",
    "aws_sdk_sns",
    "aws_sdk_sqs",
    "aws_sdk_sts",
    "aws_sigv4",
    "aws_smithy_async",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_json",
    "aws_smithy_observability",
    "aws_smithy_query",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_types",
    "aws_smithy_xml",
    "aws_types",
    "h2",
    "hyper",
    "hyper_rustls",
    "hyper_util",
    "lambda_http",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "rustls",
    "tokio_rustls",
    "tower",
];

/// Structured logs: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), human
/// readable otherwise; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    init_with_default("info");
}

/// As [`init`], with another level when `RUST_LOG` is unset.
pub fn init_with_default(level: &str) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let sdk_log = std::env::var(SDK_LOG_VAR).ok();
    let Filters { env, sdk_cap, problem } = filters(rust_log.as_deref(), sdk_log.as_deref(), level);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(env).with_target(false);
    let result = if json {
        builder.json().flatten_event(true).without_time().with_current_span(false).finish().with(sdk_cap).try_init()
    } else {
        builder.with_ansi(false).with_writer(std::io::stderr).finish().with(sdk_cap).try_init()
    };
    // Already initialised (tests, embedding): keep the existing subscriber.
    if result.is_ok() {
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
    }
}

/// What the logs let through. Both filters must enable an event.
struct Filters {
    /// `RUST_LOG` (or the default level), with [`SDK_TARGETS`] at [`SDK_LOG_VAR`]'s level
    /// when it is set.
    env: EnvFilter,
    /// [`SDK_TARGETS`] at [`SDK_LOG_VAR`]'s level or [`SDK_DEFAULT_CAP`], everything else
    /// let through. A separate filter, so that no `RUST_LOG` directive (a more specific
    /// target, a span filter) can lift it.
    sdk_cap: Targets,
    /// An [`SDK_LOG_VAR`] that is not a level, to be logged once logging works.
    problem: Option<String>,
}

fn filters(rust_log: Option<&str>, sdk_log: Option<&str>, default: &str) -> Filters {
    let sdk_log = sdk_log.map(str::trim).filter(|v| !v.is_empty());
    let (sdk_level, problem) = match sdk_log.map(|v| (v, v.parse::<LevelFilter>())) {
        None => (None, None),
        Some((_, Ok(level))) => (Some(level), None),
        Some((value, Err(_))) => (
            None,
            Some(format!(
                "{SDK_LOG_VAR}={value:?} is not a level (trace, debug, info, warn, error, off); the AWS SDK logs at {SDK_DEFAULT_CAP} at most"
            )),
        ),
    };
    let rust_log = rust_log.map(str::trim).filter(|v| !v.is_empty());
    let mut env = rust_log.and_then(|f| EnvFilter::try_new(f).ok()).unwrap_or_else(|| EnvFilter::new(default));
    if let Some(level) = sdk_level {
        for directive in sdk_directives(level) {
            if let Ok(directive) = directive.parse() {
                env = env.add_directive(directive);
            }
        }
    }
    let cap = sdk_level.unwrap_or(SDK_DEFAULT_CAP);
    let sdk_cap = Targets::new().with_default(LevelFilter::TRACE).with_targets(SDK_TARGETS.iter().map(|t| (*t, cap)));
    Filters { env, sdk_cap, problem }
}

/// `target=level` for every SDK target.
fn sdk_directives(level: LevelFilter) -> Vec<String> {
    SDK_TARGETS.iter().map(|target| format!("{target}={level}")).collect()
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
