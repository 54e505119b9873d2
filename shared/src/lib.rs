//! orderflow's library: the domain, the ports it does I/O through, and the adapters
//! behind them. Every function crate is a thin binary over this.
//!
//! # Layout
//! - [`api`]: the HTTP functions' entry: topology routing and JSON answers (feature `api`).
//! - [`app`]: `Deps`, the ports and rules a handler is given at cold start.
//! - [`clock`]: system and manual clocks; id generators.
//! - [`error`]: the typed error enum and its retryable / non-retryable split.
//! - [`money`]: currencies and decimal amounts; no floats, rounding named where it happens.
//! - [`input`]: reading untrusted JSON with errors that name the field.
//! - [`domain`]: validated ids, orders and their transitions, risk scoring; pure.
//! - [`rules`]: the rules file (every preset as data), parsed and checked at start-up.
//! - [`rules_audit`]: its `[audit]` section: reasons, teams, templates, attempt schedule.
//! - [`rules_fulfilment`]: its `[fulfilment]` section: systems, status table, strategies.
//! - [`rules_refund`]: its `[refunds]` section: scenarios, conditions, review, formula.
//! - [`events`]: CloudEvents envelopes for outbound messages; SNS envelope unwrapping.
//! - [`reaudit`]: audit results in, audit events and notification requests out.
//! - [`privacy`]: masking of email and phone numbers.
//! - [`order_events`]: order events several functions build alike (`order.rejected`).
//! - [`relay`]: the outbox relay: what a change added to an item's outbox, published in order.
//! - [`repo`]: the single-table key layout and typed entity access over the store port.
//! - [`sqs_batch`]: per-record processing of an SQS batch with partial batch failures.
//! - [`http`]: the API's one JSON error shape.
//! - [`telemetry`]: tracing set-up (JSON logs on Lambda).
//! - [`lambda_env`]: table and topic/queue names a function reads from its environment.
//! - [`ports`]: narrow async traits: state store, publisher, queues, clock, ids.
//! - [`topology`]: topics, queues, subscriptions, routes and schedules, described once.
//! - [`transition`]: one idempotent, versioned transition of a stored entity with its messages.
//! - [`embedded`]: in-process adapters with DynamoDB/SQS/SNS semantics (feature `embedded`).
//! - [`aws`]: adapters on the `aws-sdk-*` crates (features `dynamodb`, `sqs`, `sns`),
//!   plus moto provisioning for tests and the local runtime (feature `moto`).

#[cfg(feature = "api")]
pub mod api;
pub mod app;
pub mod clock;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod input;
pub mod lambda_env;
pub mod money;
pub mod order_events;
pub mod ports;
pub mod privacy;
pub mod reaudit;
pub mod relay;
pub mod repo;
pub mod rules;
pub mod rules_audit;
pub mod rules_fulfilment;
pub mod rules_refund;
pub mod sqs_batch;
pub mod telemetry;
pub mod topology;
pub mod transition;

#[cfg(feature = "embedded")]
pub mod embedded;

#[cfg(any(feature = "dynamodb", feature = "sqs", feature = "sns"))]
pub mod aws;

pub use error::{Error, Result, StoreError};
