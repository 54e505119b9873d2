//! `POST /refunds` and `GET /refunds/{refund_id}`: an unsubscribe request is checked
//! against its scenario's conditions, then rejected, sent to a reviewer or issued.
//! Only a paid, dispatched order can be refunded (`order_refusal`). Refund ids are
//! random; idempotent on `request_id` through the request item stored with the refund:
//! a retried request answers with the stored refund. Messages go in the refund item's
//! outbox, written with it; the outbox relay sends them.

use chrono::{DateTime, Utc};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::ids::{OrderId, RequestId};
use orderflow_shared::domain::order::Order;
use orderflow_shared::domain::policy::refund::ScenarioRules;
use orderflow_shared::domain::refund::{quote, Purchase, Quote};
use orderflow_shared::domain::refund_policy::{apply, extract, failed_conditions, order_refusal, review_reasons};
use orderflow_shared::edge::caller::Caller;
use orderflow_shared::error::{Error, Result};
use orderflow_shared::input::Fields;
use orderflow_shared::store::transition;
use orderflow_shared::store::{require_order, Versioned};
use rust_decimal::Decimal;
use serde_json::Value;
use tracing::{info, instrument};

use crate::outbox;
use crate::store::{self, Ledger, Refund, RefundStatus};
pub use crate::view::{check_refund_id, view};

/// The cause of a request's messages (their ids derive from it).
pub const REQUESTED: &str = "requested";

struct RefundRequest {
    request_id: String,
    order_id: OrderId,
    scenario: String,
}

fn parse(deps: &Deps, body: &Value) -> Result<RefundRequest> {
    let f = Fields::root(body)?;
    let request_id = RequestId::parse("request_id", f.str("request_id")?)?.to_string();
    let order_id = OrderId::parse("order_id", f.str("order_id")?)?;
    let scenario = f.str("scenario")?.to_string();
    if deps.rules.refunds.scenario(&scenario).is_none() {
        let known: Vec<&str> = deps.rules.refunds.scenarios.keys().map(String::as_str).collect();
        return Err(Error::validation(
            "scenario",
            format!("unknown scenario {scenario:?}: expected one of {}", known.join(", ")),
        ));
    }
    Ok(RefundRequest { request_id, order_id, scenario })
}

/// `POST /refunds`: `(status, body)`.
#[instrument(skip_all)]
pub async fn request(deps: &Deps, caller: &Caller, body: &Value) -> Result<(u16, Value)> {
    let req = parse(deps, body)?;
    let req = &req;
    transition::retrying(|| async move {
        if let Some(existing) = store::find_by_request(deps.store.as_ref(), &req.request_id).await? {
            caller.may_act_for(&existing.value.customer_id)?;
            return replay(existing, req);
        }
        let (order, scenario, purchase, ledger) = load_purchase(deps, &req.order_id, &req.scenario).await?;
        // A customer refunds its own orders only; a service acts for any customer.
        caller.may_act_for(order.request.customer_id.as_str())?;
        if let Some(refusal) = order_refusal(&order) {
            return Err(Error::Conflict(refusal.message));
        }
        if ledger.value.refunded.total() >= purchase.paid() {
            return Err(Error::Conflict(format!("order {} is already fully refunded", req.order_id)));
        }
        let now = deps.clock.now();
        // Random, so a refund cannot be read or reviewed by guessing its id; a lost race
        // on the same request id fails the transaction and is answered by the winner.
        let refund_id = format!("rf-{}", deps.ids.next_id());
        let mut refund = new_refund(req, &refund_id, &order, scenario, &purchase, now);
        decide(deps, &mut refund, scenario, &purchase, ledger).await?;
        info!(refund_id = %refund.refund_id, status = ?refund.status, "refund requested");
        Ok((201, view(&refund)))
    })
    .await
}

/// A refund as requested at `now`: the facts extracted, the failed conditions listed.
fn new_refund(
    req: &RefundRequest,
    refund_id: &str,
    order: &Order,
    scenario: &ScenarioRules,
    purchase: &Purchase,
    now: DateTime<Utc>,
) -> Refund {
    Refund {
        refund_id: refund_id.to_string(),
        request_id: req.request_id.clone(),
        order_id: req.order_id.clone(),
        customer_id: order.request.customer_id.to_string(),
        scenario: req.scenario.clone(),
        status: RefundStatus::Rejected,
        requested_at: now,
        facts: extract(scenario, purchase),
        reasons: failed_conditions(scenario, purchase, now),
        reviewer_role: None,
        seller_id: order.request.product.as_ref().and_then(|p| p.seller_id.clone()),
        quote: None,
        code: None,
        decision: None,
        entitlement: None,
        outbox: Vec::new(),
        first_result: None,
    }
}

/// Keeps the answer of the request, once, before the refund is first stored.
fn remember_first_result(refund: &mut Refund) {
    if refund.first_result.is_none() {
        refund.first_result = Some(view(refund));
    }
}

/// Rejects, routes to review or issues the new refund, and stores it.
async fn decide(
    deps: &Deps,
    refund: &mut Refund,
    scenario: &ScenarioRules,
    purchase: &Purchase,
    ledger: Versioned<Ledger>,
) -> Result<u64> {
    let now = refund.requested_at;
    if refund.reasons.is_empty() {
        let q = quote(&deps.rules.refunds, scenario, purchase, &ledger.value.refunded, now)?;
        if q.amount == Decimal::ZERO {
            refund.reasons.push("NOTHING_TO_REFUND".into());
        } else {
            let review = review_reasons(scenario, purchase, &q);
            refund.quote = Some(q);
            if review.is_empty() {
                return issue(deps, refund, None, scenario, ledger, now, REQUESTED).await;
            }
            refund.status = RefundStatus::PendingReview;
            refund.reviewer_role = Some(scenario.review.reviewer);
            refund.reasons = review;
            let messages = outbox::review_requested(refund, now, REQUESTED);
            refund.emit(messages);
            remember_first_result(refund);
            return store::put_refund(deps.store.as_ref(), refund, None).await;
        }
    }
    let messages = outbox::rejected(refund, now, REQUESTED);
    refund.emit(messages);
    remember_first_result(refund);
    store::put_refund(deps.store.as_ref(), refund, None).await
}

/// Issues `refund` (its quote set): a fresh unguessable code, the ledger and the
/// entitlement updated, in one transaction with the refund.
pub async fn issue(
    deps: &Deps,
    refund: &mut Refund,
    refund_version: Option<u64>,
    scenario: &ScenarioRules,
    ledger: Versioned<Ledger>,
    at: DateTime<Utc>,
    cause: &str,
) -> Result<u64> {
    let Versioned { value: mut ledger, version } = ledger;
    let channels = refund.quote.as_ref().map(|q: &Quote| q.channels.clone()).unwrap_or_default();
    ledger.refunded.add(&channels)?;
    ledger.refund_ids.push(refund.refund_id.clone());
    let after = apply(&scenario.entitlement, &ledger.entitlement);
    let key_revoked = ledger.entitlement.key.is_some() && after.key.is_none();
    ledger.entitlement = after;
    refund.status = RefundStatus::Approved;
    refund.code = Some(format!("RFC-{}", deps.ids.next_id()));
    refund.entitlement = Some(ledger.entitlement.clone());
    let messages = outbox::issued(refund, at, cause, key_revoked);
    refund.emit(messages);
    remember_first_result(refund);
    let ledger_version = (version > 0).then_some(version);
    store::put_issued(deps.store.as_ref(), refund, refund_version, &ledger, ledger_version).await
}

fn new_ledger(purchase: &Purchase) -> Ledger {
    Ledger { refunded: Default::default(), refund_ids: Vec::new(), entitlement: purchase.entitlement.clone() }
}

/// The order, the rules of `scenario`, the purchase and the order's refund ledger
/// (version 0 while none is stored), refusing physical orders and a scenario that does
/// not match the product.
pub async fn load_purchase<'r>(
    deps: &'r Deps,
    order_id: &OrderId,
    scenario: &str,
) -> Result<(Order, &'r ScenarioRules, Purchase, Versioned<Ledger>)> {
    let order = require_order(deps.store.as_ref(), order_id).await?.value;
    let Some(product) = &order.request.product else {
        return Err(Error::validation(
            "order_id",
            format!("order {order_id} is a physical order; only digital goods are refunded"),
        ));
    };
    if product.kind.name() != scenario {
        return Err(Error::validation(
            "scenario",
            format!("order {order_id} is a {}, not a {scenario}", product.kind.name()),
        ));
    }
    let rules =
        deps.rules.refunds.scenario(scenario).ok_or_else(|| Error::validation("scenario", "unknown scenario"))?;
    let mut purchase = Purchase::of(&order.request)?;
    let ledger = match store::get_ledger(deps.store.as_ref(), order_id).await? {
        Some(ledger) => ledger,
        None => Versioned { value: new_ledger(&purchase), version: 0 },
    };
    // The entitlement in force is the ledger's once a refund changed it.
    purchase.entitlement = ledger.value.entitlement.clone();
    Ok((order, rules, purchase, ledger))
}

fn replay(existing: Versioned<Refund>, req: &RefundRequest) -> Result<(u16, Value)> {
    let refund = &existing.value;
    if refund.order_id != req.order_id || refund.scenario != req.scenario {
        return Err(Error::Conflict(format!("request_id {} was already used for a different refund", req.request_id)));
    }
    Ok((200, refund.first_result.clone().map_or_else(|| view(refund), crate::view::scrub)))
}

/// `GET /refunds/{refund_id}`.
pub async fn show(deps: &Deps, caller: &Caller, refund_id: &str) -> Result<Value> {
    check_refund_id(refund_id)?;
    let found = store::get_refund(deps.store.as_ref(), refund_id).await?;
    let refund = found.ok_or_else(|| Error::NotFound { what: "refund", id: refund_id.to_string() })?.value;
    caller.may_act_for(&refund.customer_id)?;
    caller.may_read_for_seller(refund.seller_id.as_deref())?;
    Ok(view(&refund))
}
