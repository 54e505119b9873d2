//! The reviewers' queue (DOMAIN §4 step 4): `GET /refunds?status=PENDING_REVIEW&role=…`,
//! newest first, from the sparse work-queue index. A reviewer's token decides what it
//! sees: its own role, and for a seller reviewer its own seller's refunds only.

use orderflow_shared::app::Deps;
use orderflow_shared::domain::ids::CustomerId;
use orderflow_shared::domain::policy::refund::ReviewerRole;
use orderflow_shared::edge::api::Routed;
use orderflow_shared::edge::caller::{Caller, Identity};
use orderflow_shared::error::{Error, Result};
use orderflow_shared::store::{decode, queues};
use serde_json::{json, Value};

use crate::store::Refund;
use crate::view::view;

fn parse_role(text: &str) -> Result<ReviewerRole> {
    match text {
        "platform" => Ok(ReviewerRole::Platform),
        "seller" => Ok(ReviewerRole::Seller),
        _ => Err(Error::validation("role", "must be platform or seller")),
    }
}

/// The queue the caller may read: its token's role (and seller); with `--auth off`, the
/// role and seller the query names.
fn queue_of(caller: &Caller, role: Option<&str>, seller: Option<&str>) -> Result<(ReviewerRole, String)> {
    let role = role.map(parse_role).transpose()?;
    let seller = seller.map(|s| CustomerId::parse("seller_id", s)).transpose()?;
    let (role, seller) = match caller {
        Caller::Token(Identity { reviewer_role, seller_id, .. }) => {
            let Some(own) = reviewer_role.as_deref().map(parse_role).transpose().ok().flatten() else {
                return Err(Error::Forbidden("the token names no reviewer role (claim `reviewer_role`)".into()));
            };
            if role.is_some_and(|r| r != own) {
                return Err(Error::Forbidden(format!("a {} reviewer may not read another role's queue", own.as_str())));
            }
            if seller.as_ref().is_some_and(|s| seller_id.as_deref() != Some(s.as_str())) {
                return Err(Error::Forbidden("a reviewer may not read another seller's queue".into()));
            }
            (own, seller_id.clone())
        }
        _ => (role.ok_or_else(|| Error::validation("role", "is required"))?, seller.map(|s| s.to_string())),
    };
    match (role, seller) {
        (ReviewerRole::Platform, _) => Ok((role, queues::review_pk(role.as_str(), None))),
        (ReviewerRole::Seller, Some(seller)) => Ok((role, queues::review_pk(role.as_str(), Some(&seller)))),
        (ReviewerRole::Seller, None) => Err(match caller {
            Caller::Token(_) => {
                Error::Forbidden("the seller reviewer's token names no seller (claim `seller_id`)".into())
            }
            _ => Error::validation("seller_id", "is required for the seller queue"),
        }),
    }
}

/// `GET /refunds?status=PENDING_REVIEW&role=platform|seller[&seller_id=…][&limit=…][&cursor=…]`.
pub async fn list(deps: &Deps, r: &Routed<'_>) -> Result<Value> {
    match r.query("status")? {
        None | Some("PENDING_REVIEW") => {}
        Some(_) => return Err(Error::validation("status", "only PENDING_REVIEW refunds are queued for reviewers")),
    }
    let (role, queue) = queue_of(&r.caller, r.query("role")?, r.query("seller_id")?)?;
    let limit = queues::parse_limit(r.query("limit")?)?;
    let page = queues::page(deps.store.as_ref(), &queue, r.query("cursor")?, limit).await?;
    let refunds = page.items.iter().map(|item| decode::<Refund>(item).map(|refund| view(&refund)));
    let refunds = refunds.collect::<Result<Vec<_>>>()?;
    Ok(json!({"status": "PENDING_REVIEW", "role": role.as_str(), "refunds": refunds, "next_cursor": page.next}))
}
