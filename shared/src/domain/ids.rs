//! Validated identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Identifiers are 1–64 characters of letters, digits and `-_.:`, not only dots: safe
/// in keys, paths (`.` and `..` would be normalised away in a URL) and logs.
fn check(field: &str, text: &str) -> Result<()> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        && !text.bytes().all(|b| b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            "must be 1-64 characters of letters, digits, '-', '_', '.' or ':', and not only dots",
        ))
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(field: &str, text: &str) -> Result<Self> {
                check(field, text)?;
                Ok($name(text.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The client's identifier of an order; also its idempotency key.
    OrderId
);
id_type!(CustomerId);
id_type!(
    /// The middle office's identifier of one audit result.
    AuditId
);
id_type!(
    /// The payer's reference of a prepayment; its idempotency key.
    PaymentRef
);
id_type!(
    /// A refund, as the refund calculator issued it (`rf-<uuid>`).
    RefundId
);
id_type!(
    /// The client's identifier of an unsubscribe request; its idempotency key.
    RequestId
);
id_type!(
    /// A reviewer's identifier of one review decision; its idempotency key.
    DecisionId
);
id_type!(Sku);
id_type!(
    /// A docking team, as the rules name it and a work queue asks for it.
    TeamId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_unsafe_characters() {
        assert!(OrderId::parse("order_id", "o-1001").is_ok());
        assert!(OrderId::parse("order_id", "v1.2").is_ok());
        for bad in ["", "a b", "a/b", "a#b", ".", "..", "...", "a\u{0}", "é", &"x".repeat(65)] {
            assert!(OrderId::parse("order_id", bad).is_err(), "{bad:?}");
        }
    }
}
