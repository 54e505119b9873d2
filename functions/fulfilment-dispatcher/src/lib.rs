//! Fulfilment dispatcher (DOMAIN §3): fulfils an order in stages. On dispatch it
//! triggers the strategy's first set of fulfilment systems; each status they report is
//! classified by the status table and either triggers the next set, waits, ends the flow
//! or recalls the triggered systems of the failing node.
//!
//! - [`dispatch`]: the queue consumer (`order.dispatched`, final audit rejections,
//!   reported statuses), exactly once per message.
//! - [`status_api`]: `POST /fulfilment/status`, which checks a report and queues it.
//!
//! The commands and events a transition sends are `orderflow_shared::messages::fulfilment`.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod dispatch;
pub mod status_api;
