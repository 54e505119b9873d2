//! The refund calculator's keys in the single table (see `docs/storage.md`); its items
//! (the refund, the request record, the ledger) are typed in that crate.

use crate::domain::ids::OrderId;
use crate::ports::Key;

/// `REFUND#<refund_id>`/`REFUND`: a refund with its outbox.
pub fn refund_key(refund_id: &str) -> Key {
    Key::new(format!("REFUND#{refund_id}"), "REFUND")
}

/// `REFUND_REQUEST#<request_id>`/`REFUND_REQUEST`: the refund a request created (refund
/// ids are random, so a retried request cannot derive it).
pub fn request_key(request_id: &str) -> Key {
    Key::new(format!("REFUND_REQUEST#{request_id}"), "REFUND_REQUEST")
}

/// `ORDER#<order_id>`/`REFUNDS`: the order's refund ledger, beside the order.
pub fn ledger_key(order_id: &OrderId) -> Key {
    Key::new(format!("ORDER#{order_id}"), "REFUNDS")
}
