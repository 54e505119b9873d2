//! orderflow's library: the domain, the ports it does I/O through, and the adapters
//! behind them. Every function crate is a thin binary over this.
//!
//! # Layout
//! The layers, lowest first: each module uses only those listed before it.
//! - [`error`]: the typed error enum and its retryable / non-retryable split.
//! - [`input`]: reading untrusted JSON, errors naming the field; the domain parses with it.
//! - [`trace`]: the W3C trace context of the request or record being handled.
//! - [`domain`]: ids, money, orders and their decisions (risk, audit, fulfilment, refunds),
//!   and [`domain::policy`], the rule types they decide with; pure.
//! - [`rules`]: the rules file: read, size-checked and validated into that policy.
//! - [`ports`]: narrow async traits: state store, publisher, queue sender, broker, clock.
//! - [`topology`]: topics, queues, subscriptions, routes and schedules, described once.
//! - [`app`]: `Deps`, the ports and rules a handler is given at cold start.
//! - [`messages`]: the CloudEvents envelope, every message sent, the outbox relay.
//! - [`store`]: the single table: every key, typed access, idempotent transitions.
//! - [`edge`]: HTTP entry and error shape, SQS batches, environment, logging.
//! - [`adapters`]: the ports on the `aws-sdk-*` crates and in process, clocks and ids; the
//!   test harnesses behind features no Lambda function enables (`embedded`, `moto`).

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod error;
pub mod input;
pub mod trace;

pub mod domain;
pub mod rules;

pub mod ports;
pub mod topology;

pub mod app;
pub mod messages;
pub mod store;

pub mod edge;

pub mod adapters;

pub use error::{Error, Result, StoreError};
