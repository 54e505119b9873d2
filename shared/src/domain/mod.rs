//! Pure domain logic: validated types and decisions from facts and the time. No I/O.

pub mod audit;
pub mod fulfilment;
pub mod ids;
pub mod order;
pub mod risk;
