//! Pure domain logic: validated types and decisions from facts and the time. No I/O.

pub mod audit;
pub mod digital;
pub mod fulfilment;
pub mod ids;
pub mod order;
pub mod refund;
pub mod refund_policy;
pub mod refund_split;
pub mod risk;
