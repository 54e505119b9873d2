//! `POST /fulfilment/status`: checks what it can (the order's fulfilment exists and is
//! not completed, the system, node and status value are known to its strategy) and
//! queues the report for the dispatcher, answering `202`. Only the system the caller's
//! token names (claim `system`) may report as that system.

use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::fulfilment::FulfilmentStatus;
use orderflow_shared::edge::api;
use orderflow_shared::edge::caller::Caller;
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::error::{Error, Result};
use orderflow_shared::input::parse_body;
use orderflow_shared::store;
use orderflow_shared::topology::{FULFILMENT_STATUS, FULFILMENT_STATUS_QUEUE};
use serde_json::json;

use crate::dispatch::{parse_report, STATUS_REPORTED};

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    api::serve(&request, FULFILMENT_STATUS, |r| accept(deps, r.caller, r.body)).await
}

/// A report is accepted only from the system the caller's token speaks for.
async fn accept(deps: &Deps, caller: Caller, body: &[u8]) -> Result<ApiResponse> {
    let value = parse_body(body)?;
    let (order_id, report) = parse_report(&value, deps.clock.now())?;
    caller.may_report_as(&report.system)?;
    let progress = store::get_progress(deps.store.as_ref(), &order_id)
        .await?
        .ok_or_else(|| Error::NotFound { what: "fulfilment of order", id: order_id.clone() })?;
    let progress = progress.value;
    if progress.is_over() && !progress.seen.contains(&report.key()) {
        let state = if progress.status == FulfilmentStatus::Completed { "completed" } else { "recalled" };
        return Err(Error::Conflict(format!("the fulfilment of order {order_id} is {state}")));
    }
    if let Some(strategy) = deps.rules.fulfilment.strategies.get(&progress.business_type) {
        progress.check(&deps.rules.fulfilment, strategy, &report).map_err(|r| match r.field {
            "order_id" => Error::Conflict(r.problem),
            field => Error::validation(field, r.problem),
        })?;
    }
    let queues = deps.queues.as_ref().ok_or_else(|| Error::Queue("no queue client".into()))?;
    let attributes = [("type".to_string(), STATUS_REPORTED.to_string())].into();
    queues.send(FULFILMENT_STATUS_QUEUE, &value.to_string(), &attributes).await?;
    Ok(ApiResponse::new(202, json!({"accepted": true, "order_id": order_id})))
}
