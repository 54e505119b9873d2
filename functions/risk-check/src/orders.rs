//! The flows behind the risk check's routes. Every write is conditional, so concurrent
//! or retried requests converge on one outcome; a request that finds its transition
//! already made answers with the stored outcome. Messages go in the written item's
//! outbox; the outbox relay sends them.

use chrono::Duration;
use orderflow_shared::app::Deps;
use orderflow_shared::domain::earlier;
use orderflow_shared::domain::ids::{OrderId, PaymentRef};
use orderflow_shared::domain::money::{Currency, Money};
use orderflow_shared::domain::order::{NewOrder, Order, OrderStatus, Prepayment};
use orderflow_shared::domain::order_prepayment::Prepaid;
use orderflow_shared::domain::risk::{assess, decide, RiskFacts};
use orderflow_shared::edge::caller::Caller;
use orderflow_shared::error::{Error, Result, StoreError};
use orderflow_shared::input::Fields;
use orderflow_shared::messages::placement;
use orderflow_shared::ports::OutboundMessage;
use orderflow_shared::store::transition::{self, Decision, Outcome};
use orderflow_shared::store::{self, refund, Versioned};
use orderflow_shared::trace;
use serde_json::{json, Value};
use tracing::{info, instrument};

/// Upper bound on the history read for velocity rules.
const VELOCITY_CAP: usize = 1000;

/// `POST /orders`: `(status, body)`.
#[instrument(skip_all)]
pub async fn place(deps: &Deps, caller: &Caller, body: &Value) -> Result<(u16, Value)> {
    let request = NewOrder::parse(body, &deps.rules, deps.clock.now())?;
    caller.may_act_for(request.customer_id.as_str())?;
    if let Some(existing) = store::get_order(deps.store.as_ref(), &request.order_id).await? {
        return replay_creation(existing, &request);
    }
    let (order, messages) = assess_new(deps, request.clone()).await?;
    match store::create_order(deps.store.as_ref(), &order, messages).await {
        Ok(()) => {
            info!(order_id = %order.id(), status = ?order.status, level = ?order.risk.level, "order placed");
            Ok((201, creation_view(&order)))
        }
        // Someone created it meanwhile: answer from their order.
        Err(Error::Store(StoreError::ConditionFailed)) => {
            replay_creation(store::require_order(deps.store.as_ref(), &request.order_id).await?, &request)
        }
        Err(e) => Err(e),
    }
}

/// A placement seen before answers as the first one did; its messages left with it.
fn replay_creation(existing: Versioned<Order>, request: &NewOrder) -> Result<(u16, Value)> {
    if existing.value.request != *request {
        return Err(Error::Conflict(format!("order_id {} was already used for a different order", request.order_id)));
    }
    Ok((200, creation_view(&existing.value)))
}

/// Scores the order and decides its first state and messages.
async fn assess_new(deps: &Deps, request: NewOrder) -> Result<(Order, Vec<OutboundMessage>)> {
    let now = deps.clock.now();
    let risk_rules = &deps.rules.risk;
    let since = risk_rules.longest_velocity_window().map(|m| earlier(now, Duration::minutes(i64::from(m))));
    let (has_history, recent) = store::customer_history(
        deps.store.as_ref(),
        &request.customer_id,
        since,
        risk_rules.uses_history(),
        VELOCITY_CAP,
    )
    .await?;
    let total = request.total()?;
    let facts = RiskFacts {
        total,
        customer_id: request.customer_id.as_str(),
        shipping_country: request.shipping_country.as_deref(),
        billing_country: request.billing_country.as_deref(),
        shipping_address: request.shipping_address.as_deref(),
        payment_method: &request.payment.method,
        has_history,
        recent_orders: &recent,
    };
    let risk = assess(risk_rules, &facts, now);
    let decision = decide(risk_rules, risk.level, total, now);
    let mut order = Order::place(request, total, risk, decision, now);
    // The placing request's trace becomes the order's: every message about it carries it.
    order.trace = trace::current().map(|t| t.to_string());
    let messages = match order.status {
        OrderStatus::Dispatched => placement::dispatched(&order),
        OrderStatus::AwaitingPrepayment => placement::prepayment_requested(&order),
        OrderStatus::Rejected | OrderStatus::Cancelled => placement::rejected(&order, "RISK_BLOCKED"),
    };
    order.record_transition(None, &store::transition_context(now, &messages));
    Ok((order, messages))
}

fn creation_view(order: &Order) -> Value {
    let mut body = json!({
        "order_id": order.id(),
        "status": order.initial_status,
        "risk": order.risk,
    });
    if let Some(p) = &order.prepayment {
        body["prepayment"] = json!(p);
    }
    body
}

/// `GET /orders/{order_id}`.
/// The fulfilment part comes from the dispatcher's own item, beside the order.
pub async fn show(deps: &Deps, caller: &Caller, order_id: &str) -> Result<Value> {
    let order = load(deps, order_id).await?.value;
    caller.may_act_for(order.request.customer_id.as_str())?;
    let mut view = order.view();
    if let Some(progress) = store::get_progress(deps.store.as_ref(), order_id).await? {
        let p = progress.value;
        view["fulfilment"] = json!({
            "status": p.status,
            "systems": p.triggered,
            "cancelled": p.cancelled,
            "statuses": p.statuses,
            "waiting": p.waiting,
            "held": p.held,
            "recalled_for": p.recalled_for,
        });
    }
    Ok(view)
}

/// `GET /orders/{order_id}/timeline`: every transition of the order, oldest first, with
/// the order's trace. A customer sees its own orders' only.
pub async fn timeline(deps: &Deps, caller: &Caller, order_id: &str) -> Result<Value> {
    let order = load(deps, order_id).await?.value;
    caller.may_act_for(order.request.customer_id.as_str())?;
    let refunds = refunds_of(deps, order.id()).await?;
    Ok(json!({
        "order_id": order.id(),
        "status": order.status,
        "audit_status": order.audit_status,
        "traceparent": order.trace,
        "transitions": order.timeline,
        "refunds": refunds,
    }))
}

/// Refunds a timeline lists, at most: a digital order has one or two.
const MAX_TIMELINE_REFUNDS: usize = 20;

/// The order's refunds, oldest first, from its refund ledger: id, status, and the amount
/// (none for a rejected one). Read as JSON: the refund calculator owns their types.
async fn refunds_of(deps: &Deps, order_id: &OrderId) -> Result<Vec<Value>> {
    let Some(ledger) = deps.store.get(&refund::ledger_key(order_id)).await? else {
        return Ok(Vec::new());
    };
    let ledger: Value = store::decode(&ledger)?;
    let ids = ledger.get("refund_ids").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut refunds = Vec::new();
    for id in ids.iter().filter_map(Value::as_str).take(MAX_TIMELINE_REFUNDS) {
        let Some(item) = deps.store.get(&refund::refund_key(id)).await? else { continue };
        let refund: Value = store::decode(&item)?;
        let field = |name: &str| refund.get(name).cloned().unwrap_or(Value::Null);
        let rejected = refund.get("status").and_then(Value::as_str) == Some("REJECTED");
        let quote = |name: &str| {
            let value = refund.get("quote").and_then(|q| q.get(name)).cloned();
            if rejected {
                Value::Null
            } else {
                value.unwrap_or(Value::Null)
            }
        };
        refunds.push(json!({
            "refund_id": id,
            "status": field("status"),
            "amount": quote("amount"),
            "currency": quote("currency"),
            "requested_at": field("requested_at"),
        }));
    }
    Ok(refunds)
}

async fn load(deps: &Deps, order_id: &str) -> Result<Versioned<Order>> {
    store::require_order(deps.store.as_ref(), &OrderId::parse("order_id", order_id)?).await
}

struct PrepaymentRequest {
    payment_ref: String,
    amount: Money,
}

fn parse_prepayment(body: &Value) -> Result<PrepaymentRequest> {
    let f = Fields::root(body)?;
    let payment_ref = PaymentRef::parse("payment_ref", f.str("payment_ref")?)?.to_string();
    let currency = Currency::parse("currency", f.str("currency")?)?;
    let amount = currency.parse_amount("amount", f.decimal_text("amount")?)?;
    Ok(PrepaymentRequest { payment_ref, amount: Money::new(amount, currency) })
}

/// `POST /orders/{order_id}/prepayment`: idempotent on `payment_ref`. The order decides
/// ([`Order::prepaid`]); the one transition helper saves it with its messages.
#[instrument(skip_all, fields(order_id = %order_id))]
pub async fn pay(deps: &Deps, caller: &Caller, order_id: &str, body: &Value) -> Result<(u16, Value)> {
    let paid = parse_prepayment(body)?;
    let id = OrderId::parse("order_id", order_id)?;
    let load = || store::require_order(deps.store.as_ref(), &id);
    let mut result = None;
    let decide = |order: &mut Order| {
        caller.may_act_for(order.request.customer_id.as_str())?;
        let outcome = order.prepaid(&paid.payment_ref, &paid.amount, deps.clock.now())?;
        result = Some(outcome);
        Ok(match outcome {
            Prepaid::AlreadyPaid | Prepaid::AlreadyCancelled => Decision::AlreadyApplied,
            Prepaid::Dispatched => Decision::Apply { messages: placement::dispatched(order) },
            Prepaid::Cancelled => Decision::Apply { messages: placement::rejected(order, "PREPAYMENT_OVERDUE") },
        })
    };
    let order = match transition::apply(deps, load, decide).await? {
        Outcome::Applied(order) | Outcome::AlreadyApplied(order) => order,
    };
    match (result, &order.prepayment) {
        (Some(Prepaid::Cancelled | Prepaid::AlreadyCancelled), Some(due)) => Err(overdue_error(order_id, due)),
        _ => {
            info!(order_id, "prepayment received, order dispatched");
            Ok((200, json!({"order_id": order.id(), "status": order.status})))
        }
    }
}

fn overdue_error(order_id: &str, due: &Prepayment) -> Error {
    let due_at = due.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Error::Conflict(format!("the prepayment of order {order_id} was due at {due_at}; the order is cancelled"))
}
