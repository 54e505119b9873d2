//! Refund calculator (DOMAIN §4): unsubscribing from digital goods, with residual-value
//! refunds back through the original payment channels and manual review.
//!
//! - [`handler`]: HTTP routing and the mapping of results to responses.
//! - [`refunds`]: `POST /refunds` and `GET /refunds/{refund_id}`.
//! - [`review`]: `POST /refunds/{refund_id}/review`.
//! - [`store`]: the refund and per-order ledger items, and their outbox.
//! - [`outbox`]: the messages each refund transition publishes.

pub mod handler;
pub mod outbox;
pub mod refunds;
pub mod review;
pub mod store;

pub use handler::handle;
