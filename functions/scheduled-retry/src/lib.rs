//! Scheduled retry (DOMAIN §1 step 6): on every tick, finds the re-audit rules that are
//! due through the sharded due index (never a scan), sends each due order's audit
//! request, moves the rule along its schedule, and rejects the orders whose window has
//! closed. The same index holds prepayment deadlines: an order whose prepayment never
//! came is cancelled once it falls due. Stops before the invocation's deadline; what is
//! left waits for the next tick.
//!
//! - [`handler`]: the tick: shards, pages, budget.
//! - [`due`]: one due order: one conditional write: request the re-audit, close the window, or cancel an unpaid order.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod due;
pub mod handler;

pub use handler::{next_due, tick, Budget, Deadline, TickReport, Unlimited};

#[cfg(test)]
mod tests;
