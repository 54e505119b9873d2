//! Risk check (DOMAIN §2): order intake, risk scoring, prepayment and dispatch.
//!
//! - [`handler`]: HTTP routing and the mapping of results to responses.
//! - [`orders`]: the flows behind the routes, on the shared ports.
//! - [`outbox`]: the messages each transition publishes.

pub mod handler;
pub mod orders;
pub mod outbox;

pub use handler::handle;
