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

pub mod dispatch;
pub mod status_api;
