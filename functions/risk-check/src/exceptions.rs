//! A docking person's work (DOMAIN §1): a team's audit exceptions, read from the sparse
//! work-queue index, and a re-audit on request, which the order decides
//! ([`Order::reaudit_on_request`]) and the one transition helper saves with its
//! `audit.requested` in the order's outbox.

use orderflow_shared::app::Deps;
use orderflow_shared::domain::exception::{ExceptionState, ReauditAsk, ReauditRequest, MAX_NOTE_CHARS};
use orderflow_shared::domain::ids::{OrderId, RequestId, TeamId};
use orderflow_shared::domain::order::Order;
use orderflow_shared::domain::order_reaudit::Reaudit;
use orderflow_shared::edge::api::Routed;
use orderflow_shared::edge::caller::Caller;
use orderflow_shared::error::{Error, Result};
use orderflow_shared::input::Fields;
use orderflow_shared::messages::audit::audit_messages;
use orderflow_shared::store::transition::{self, Decision};
use orderflow_shared::store::{self, decode, queues};
use serde_json::{json, Value};
use tracing::{info, instrument};

const SOURCE: &str = "orderflow/risk-check";

/// `GET /exceptions?team=…&state=open|closed[&limit=…][&cursor=…]`: newest first.
pub async fn list(deps: &Deps, r: &Routed<'_>) -> Result<Value> {
    let team = TeamId::parse("team", r.required_query("team")?)?;
    r.caller.may_handle_for_team(team.as_str())?;
    let state = match r.query("state")? {
        None => ExceptionState::Open,
        Some(text) => {
            ExceptionState::parse(text).ok_or_else(|| Error::validation("state", "must be open or closed"))?
        }
    };
    let limit = queues::parse_limit(r.query("limit")?)?;
    let queue = queues::exceptions_pk(team.as_str(), state);
    let page = queues::page(deps.store.as_ref(), &queue, r.query("cursor")?, limit).await?;
    let mut exceptions = Vec::with_capacity(page.items.len());
    for item in &page.items {
        exceptions.extend(view(&decode::<Order>(item)?));
    }
    Ok(json!({"team": team, "state": state.as_str(), "exceptions": exceptions, "next_cursor": page.next}))
}

/// An order's exception as its team's queue shows it.
fn view(order: &Order) -> Option<Value> {
    let exception = order.audit.exception.as_ref()?;
    let rule = order.audit.rule.as_ref().or(exception.last_rule.as_ref());
    let open = exception.state() == ExceptionState::Open;
    let failure = order.audit.first_failure.as_ref();
    Some(json!({
        "order_id": order.id(),
        "business_type": order.request.business_type,
        "team": exception.team,
        "state": exception.state().as_str(),
        "audit_status": order.audit_status,
        "reason_code": failure.map(|f| &f.reason_code),
        "reason": failure.map(|f| &f.reason),
        "failure": failure,
        "attempts": rule.map(|r| r.attempts),
        "failures": rule.map(|r| r.failures),
        "next_reaudit_at": rule.filter(|_| open).map(|r| r.next_attempt_at),
        "window_ends_at": rule.map(|r| r.window_ends_at),
        "opened_at": exception.opened_at,
        "closed_at": exception.closed_at,
        "reaudits": exception.reaudits,
    }))
}

fn parse_ask(body: &Value, caller: &Caller) -> Result<ReauditAsk> {
    let f = Fields::root(body)?;
    let request_id = RequestId::parse("request_id", f.str("request_id")?)?.to_string();
    let note = f.opt_text("note", MAX_NOTE_CHARS)?.ok_or_else(|| Error::validation("note", "is required"))?;
    Ok(ReauditAsk { request_id, note: note.to_string(), by: caller.subject().to_string() })
}

/// `POST /orders/{order_id}/reaudit {request_id, note}`: `202` with the request,
/// the same for the same request again.
#[instrument(skip_all, fields(order_id = %order_id))]
pub async fn reaudit(deps: &Deps, caller: &Caller, order_id: &str, body: &Value) -> Result<(u16, Value)> {
    let id = OrderId::parse("order_id", order_id)?;
    let ask = parse_ask(body, caller)?;
    let load = || store::require_order(deps.store.as_ref(), &id);
    let mut answer: Option<ReauditRequest> = None;
    let decide = |order: &mut Order| {
        let rules = &deps.rules.audit;
        // Another team's exception is not this token's to act on.
        if let Some(exception) = &order.audit.exception {
            caller.may_handle_for_team(&exception.team)?;
        }
        Ok(match order.reaudit_on_request(rules, &ask, deps.clock.now())? {
            Reaudit::AlreadyRequested(request) => {
                answer = Some(request);
                Decision::AlreadyApplied
            }
            Reaudit::Requested { request, events } => {
                let cause = format!("reaudit:{}", request.request_id);
                answer = Some(request);
                Decision::Apply { messages: audit_messages(SOURCE, rules, order, &cause, &events) }
            }
        })
    };
    transition::apply(deps, load, decide).await?;
    let request = answer.ok_or_else(|| Error::Conflict(format!("order {id} has no open audit exception")))?;
    info!(order_id = %id, attempt = request.attempt, "re-audit requested");
    Ok((
        202,
        json!({"order_id": id, "request_id": request.request_id, "note": request.note,
                    "attempt": request.attempt, "requested_at": request.at}),
    ))
}
