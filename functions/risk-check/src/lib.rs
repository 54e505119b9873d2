//! Risk check (DOMAIN §2): order intake, risk scoring, prepayment and dispatch.
//!
//! - [`handler`]: HTTP routing and the mapping of results to responses.
//! - [`exceptions`]: a team's audit exceptions and a re-audit on request.
//! - [`orders`]: the flows behind the routes, on the shared ports; the messages they
//!   send are `orderflow_shared::messages::placement`.

pub mod exceptions;
pub mod handler;
pub mod orders;

pub use handler::handle;

#[cfg(test)]
mod metrics_tests;
