//! Refund calculator (DOMAIN §4): unsubscribing from digital goods, with residual-value
//! refunds back through the original payment channels and manual review.
//!
//! - [`handler`]: HTTP routing and the mapping of results to responses.
//! - [`refunds`]: `POST /refunds` and `GET /refunds/{refund_id}`.
//! - [`review`]: `POST /refunds/{refund_id}/review`.
//! - [`queue`]: `GET /refunds`, the reviewers' queue of refunds pending review.
//! - [`store`]: the refund, request and per-order ledger items, and their outbox.
//! - [`outbox`]: the messages each refund transition publishes.
//! - [`view`]: the refund as answers show it (no secrets; no amount on a rejection).

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod handler;
pub mod outbox;
pub mod queue;
pub mod refunds;
pub mod review;
pub mod store;
pub mod view;

pub use handler::handle;
