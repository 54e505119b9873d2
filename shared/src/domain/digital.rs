//! What a digital order bought: the product (a membership over a service period, or an
//! album released episode by episode), its order type and the entitlement it grants.
//! Read from `POST /orders`' `product` object; the refund calculator decides on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::{Fields, Nested, TimeWindow};

/// The product kinds, which are also the refund scenarios.
pub const PRODUCT_KINDS: &[&str] = &["MEMBERSHIP", "ALBUM"];

/// The most episodes an album may have.
pub const MAX_EPISODES: u32 = 100_000;

/// What was bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProductKind {
    Membership { service_start: DateTime<Utc>, service_end: DateTime<Utc> },
    Album { total_episodes: u32, released_episodes: u32, consumed_episodes: u32 },
}

impl ProductKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProductKind::Membership { .. } => "MEMBERSHIP",
            ProductKind::Album { .. } => "ALBUM",
        }
    }
}

/// The user's rights over the product: revoked, changed or kept by a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// The access key (licence, activation code) the purchase handed out.
    pub key: Option<String>,
    pub user_flags: Vec<String>,
    pub service_content: String,
    pub product_status: String,
}

/// A digital order's `product`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    #[serde(flatten)]
    pub kind: ProductKind,
    /// `STANDARD` unless given; the refund rules may charge a handling fee by it.
    pub order_type: String,
    pub entitlement: Entitlement,
    /// The seller of the product: its refunds routed to a seller reviewer may be
    /// decided by that seller's reviewers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
}

impl Product {
    /// Reads `product` from an order body; `None` when absent.
    pub fn parse(f: &Fields<'_>, now: DateTime<Utc>) -> Result<Option<Product>> {
        let Some(nested) = f.opt_object("product")? else { return Ok(None) };
        let p = nested.fields();
        let kind = match p.str("kind")? {
            "MEMBERSHIP" => membership(&p, now)?,
            "ALBUM" => album(&p)?,
            other => {
                return Err(Error::validation(
                    p.path("kind"),
                    format!("unknown product kind {other:?}: expected one of {}", PRODUCT_KINDS.join(", ")),
                ))
            }
        };
        let order_type = p.opt_str("order_type")?.unwrap_or("STANDARD");
        check_code(&p.path("order_type"), order_type)?;
        let entitlement = match p.opt_object("entitlement")? {
            Some(e) => entitlement(&e)?,
            None => Entitlement {
                key: None,
                user_flags: Vec::new(),
                service_content: "FULL".into(),
                product_status: "ACTIVE".into(),
            },
        };
        let seller_id = match p.opt_str("seller_id")? {
            Some(id) => Some(crate::domain::ids::CustomerId::parse(&p.path("seller_id"), id)?.to_string()),
            None => None,
        };
        Ok(Some(Product { kind, order_type: order_type.to_string(), entitlement, seller_id }))
    }
}

fn membership(p: &Fields<'_>, now: DateTime<Utc>) -> Result<ProductKind> {
    let required = |name: &str| {
        p.opt_time_within(name, now, TimeWindow::SERVICE)?.ok_or_else(|| Error::validation(p.path(name), "is required"))
    };
    let service_start = required("service_start")?;
    let service_end = required("service_end")?;
    if service_end <= service_start {
        return Err(Error::validation(p.path("service_end"), "must be after service_start"));
    }
    Ok(ProductKind::Membership { service_start, service_end })
}

fn album(p: &Fields<'_>) -> Result<ProductKind> {
    let total_episodes = p.u32_in("total_episodes", 1, MAX_EPISODES)?;
    let released_episodes = p.u32_in("released_episodes", 0, MAX_EPISODES)?;
    if released_episodes > total_episodes {
        return Err(Error::validation(p.path("released_episodes"), "must not exceed total_episodes"));
    }
    let consumed_episodes = p.opt_u32_in("consumed_episodes", 0, MAX_EPISODES)?.unwrap_or(0);
    if consumed_episodes > released_episodes {
        return Err(Error::validation(p.path("consumed_episodes"), "must not exceed released_episodes"));
    }
    Ok(ProductKind::Album { total_episodes, released_episodes, consumed_episodes })
}

fn entitlement(nested: &Nested<'_>) -> Result<Entitlement> {
    let e = nested.fields();
    let user_flags = match e.raw("user_flags") {
        None => Vec::new(),
        Some(serde_json::Value::Array(flags)) => flags
            .iter()
            .enumerate()
            .map(|(i, flag)| {
                let field = format!("{}[{i}]", e.path("user_flags"));
                let text = flag.as_str().ok_or_else(|| Error::validation(&field, "must be a string"))?;
                check_code(&field, text)?;
                Ok(text.to_string())
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(Error::validation(e.path("user_flags"), "must be an array of strings")),
    };
    let service_content = e.opt_text("service_content", 200)?.unwrap_or("FULL");
    let product_status = e.opt_str("product_status")?.unwrap_or("ACTIVE");
    check_code(&e.path("product_status"), product_status)?;
    Ok(Entitlement {
        key: e.opt_text("key", 500)?.map(str::to_string),
        user_flags,
        service_content: service_content.to_string(),
        product_status: product_status.to_string(),
    })
}

/// Codes (order types, flags, statuses) are UPPER_SNAKE_CASE so rules can name them.
fn check_code(field: &str, text: &str) -> Result<()> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(field, format!("{text:?} must be UPPER_SNAKE_CASE, at most 64 characters")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(product: serde_json::Value) -> Result<Option<Product>> {
        let body = json!({ "product": product });
        Product::parse(
            &Fields::root(&body).unwrap(),
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 22, 10, 0, 0).unwrap(),
        )
    }

    #[test]
    fn membership_with_entitlement_is_read() {
        let p = parse(json!({"kind": "MEMBERSHIP", "service_start": "2026-01-01T00:00:00Z",
            "service_end": "2027-01-01T00:00:00Z", "entitlement": {"key": "K-1", "user_flags": ["VIP"]}}))
        .unwrap()
        .unwrap();
        assert_eq!(p.kind.name(), "MEMBERSHIP");
        assert_eq!(p.order_type, "STANDARD");
        assert_eq!(p.entitlement.key.as_deref(), Some("K-1"));
        assert_eq!(p.entitlement.product_status, "ACTIVE");
    }

    #[test]
    fn bad_products_name_the_field() {
        let cases = [
            (json!({"kind": "BOOK"}), "product.kind"),
            (json!({"kind": "MEMBERSHIP", "service_start": "2026-01-01T00:00:00Z"}), "product.service_end"),
            (
                json!({"kind": "MEMBERSHIP", "service_start": "2026-02-01T00:00:00Z", "service_end": "2026-01-01T00:00:00Z"}),
                "product.service_end",
            ),
            (json!({"kind": "ALBUM", "total_episodes": 0, "released_episodes": 0}), "product.total_episodes"),
            (json!({"kind": "ALBUM", "total_episodes": 4, "released_episodes": 5}), "product.released_episodes"),
            (
                json!({"kind": "ALBUM", "total_episodes": 4, "released_episodes": 2, "consumed_episodes": 3}),
                "product.consumed_episodes",
            ),
            (
                json!({"kind": "ALBUM", "total_episodes": 4, "released_episodes": 2, "entitlement": {"user_flags": [1]}}),
                "product.entitlement.user_flags[0]",
            ),
            (json!("MEMBERSHIP"), "product"),
            (
                json!({"kind": "MEMBERSHIP", "service_start": "2026-01-01T00:00:00Z", "service_end": "9999-12-31T23:59:59Z"}),
                "product.service_end",
            ),
            (
                json!({"kind": "MEMBERSHIP", "service_start": "0001-01-01T00:00:00Z", "service_end": "2027-01-01T00:00:00Z"}),
                "product.service_start",
            ),
            (
                json!({"kind": "ALBUM", "total_episodes": 4294967295u32, "released_episodes": 0}),
                "product.total_episodes",
            ),
        ];
        for (product, field) in cases {
            match parse(product.clone()) {
                Err(Error::Validation { field: got, .. }) => assert_eq!(got, field, "{product}"),
                other => panic!("{product}: {other:?}"),
            }
        }
    }
}
