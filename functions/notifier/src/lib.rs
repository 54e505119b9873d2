//! Notifier (DOMAIN §1 step 4b): renders each queued notification with its template and
//! publishes it to `handler-notifications` for the docking team, once per notification.
//!
//! - [`handler`]: the SQS batch entry point.
//! - [`render`]: template values from a notification request; publishing once.

pub mod handler;
pub mod render;

pub use handler::handle;
