//! `orderflow-local`: the whole system on a laptop. It plays what AWS plays in
//! production: API Gateway (routes HTTP requests to the functions), the Lambda event
//! source mappings (polls the queues, hands batches to the functions, honours partial
//! batch failures), EventBridge (fires the schedules) and, on the embedded backend,
//! DynamoDB, SNS and SQS themselves.
//!
//! - [`runtime`]: builds the backend (embedded, or aws against an endpoint) and the
//!   functions' dependencies; inspection of topics, queues and the clock.
//! - [`taps`]: on the aws backend, a raw-delivery queue per topic that records what was
//!   published, for `GET /_local/topics/{topic}/messages`.
//! - [`dead_letters`]: dead letters with their reasons, listed and moved back, on a
//!   running runtime, a data directory or a deployed stack.
//! - [`functions`]: which handler serves which route, queue and schedule.
//! - [`metrics`]: the functions' metrics, for `GET /_local/metrics`.
//! - [`pump`]: the event source mapping emulation and `settle`.
//! - [`router`]: the HTTP API plus the `/_local` control routes.
//! - [`auth`]: the bearer tokens `serve` issues and verifies, as API Gateway's JWT
//!   authorizer would.
//! - [`console`]: the console's local sign-in (its pages are the API function's).
//! - [`guard`]: refuses requests a web page could have sent (foreign `Host` or
//!   `Origin`, a body that is not JSON).
//! - [`server`]: binds 127.0.0.1 and serves the router behind the guard.
//! - [`bench`]: throughput measurements on the embedded backend.
//! - [`demo`]: the scripted scenario of `orderflow-local demo`.
//! - [`soak`]: `orderflow-local soak`, many orders under injected faults, then a check.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod auth;
#[allow(
    clippy::expect_used,
    reason = "the benchmark driver: a failed set-up step stops the measurement, naming the step"
)]
pub mod bench;
pub mod console;
pub mod dead_letters;
pub mod demo;
pub mod functions;
pub mod guard;
pub mod metrics;
pub mod pump;
pub mod router;
pub mod runtime;
pub mod server;
pub mod soak;
pub mod stream;
pub mod taps;

pub use runtime::{Backend, ClockMode, FaultPlan, Options, Runtime};
