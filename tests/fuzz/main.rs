//! Hostile inputs against every entry of the system, on the embedded backend, driven
//! in-process through the same router `orderflow-local serve` uses: the body (and path
//! parameters) of every HTTP route, the records of every queue consumer, and the rules
//! file. Inputs are mostly mutations of the valid shapes (so they get past the first
//! check and reach the code behind it), plus random JSON and text that is not JSON.
//!
//! Whatever an entry is sent, nothing may panic (anywhere: a panic hook counts them);
//! the API answers no `5xx`, every error in the contract's shape with a bounded message,
//! and a refused request stores, publishes and queues nothing; a queue consumer
//! acknowledges or dead-letters a bad record and still processes the valid record in
//! its batch.
//!
//! - [`engine`]: budget, proptest runs and shrinking, panics caught per case, the report.
//! - [`capture`]: the panic hook and the logs of a case.
//! - [`json`]: a JSON tree with duplicate keys and raw numbers, and its mutations.
//! - [`hostile`]: the strategies for hostile values and bodies; [`values`]: their tables.
//! - [`world`]: a fresh runtime per case with a baseline of orders and a refund.
//! - [`effects`]: store, publisher and queue wrappers that log every effect.
//! - [`checks`]: what every answer must be.
//! - [`toml_tree`]: the rules file as such a tree, and what a mutation changed.
//! - [`http`], [`sqs`], [`rules`]: the entries.
//!
//! `cargo test --test fuzz` runs a bounded number of cases per entry (`FUZZ_CASES`);
//! `scripts/fuzz --minutes N` runs a release build for N minutes (`FUZZ_MINUTES`).

mod capture;
mod checks;
mod effects;
mod engine;
mod hostile;
mod http;
mod json;
mod rules;
mod sqs;
mod toml_tree;
mod values;
mod world;

/// The `#[test]` entries in this binary, among which `FUZZ_MINUTES` is shared.
pub const ENTRIES: u32 = 12;
