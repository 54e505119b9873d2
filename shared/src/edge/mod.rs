//! The Lambda edge: where an event or a request comes in and an answer goes out.
//!
//! - [`api`]: the HTTP functions' entry: topology routing and JSON answers (feature `api`).
//! - [`caller`]: who is calling, from the JWT authorizer's context (feature `api`).
//! - [`console`]: the people's console pages at `/console` (feature `api`).
//! - [`http`]: the API's one JSON error shape.
//! - [`sqs_batch`]: per-record processing of an SQS batch with partial batch failures.
//! - [`metrics`]: the counters every function emits (EMF on Lambda, feature `emf`).
//! - [`lambda_env`]: table and topic/queue names a function reads from its environment.
//! - [`telemetry`]: tracing set-up (JSON logs on Lambda).

#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "api")]
pub mod caller;
#[cfg(feature = "api")]
pub mod console;
pub mod http;
pub mod lambda_env;
pub mod metrics;
pub mod sqs_batch;
pub mod telemetry;
