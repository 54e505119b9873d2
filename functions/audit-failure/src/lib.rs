//! Audit-failure handler (DOMAIN §1 steps 1–5 and 7): consumes `audit-results` and
//! moves each order's audit along: provisional acceptance with a re-audit rule, a kept
//! or expired rule on later failures, rejection, approval.
//!
//! - [`handler`]: the SQS batch entry point.
//! - [`flow`]: applies one audit result to its order, exactly once.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod flow;
pub mod handler;

pub use handler::handle;

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod metrics_tests;
