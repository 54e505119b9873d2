//! Risk check (DOMAIN §2): order intake, risk scoring, prepayment and dispatch.
//!
//! - [`handler`]: HTTP routing and the mapping of results to responses.
//! - [`exceptions`]: a team's audit exceptions and a re-audit on request.
//! - [`orders`]: the flows behind the routes, on the shared ports; the messages they
//!   send are `orderflow_shared::messages::placement`.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod exceptions;
pub mod handler;
pub mod orders;

pub use handler::handle;

#[cfg(test)]
mod metrics_tests;
