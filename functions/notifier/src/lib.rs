//! Notifier (DOMAIN §1 step 4b): renders each queued notification with its template and
//! publishes it to `handler-notifications` for the docking team, once per notification.
//!
//! - [`handler`]: the SQS batch entry point.
//! - [`render`]: template values from a notification request; publishing once.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod handler;
pub mod render;

pub use handler::handle;
