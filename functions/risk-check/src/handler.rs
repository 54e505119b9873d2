//! HTTP entry point: routes a request by the topology and maps every outcome, success or
//! error, to a JSON response. Runs the same under `lambda_http` and the local runtime.

use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::api::{self, Routed};
use orderflow_shared::edge::caller::Caller;
use orderflow_shared::edge::console;
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::error::Result;
use orderflow_shared::input::parse_body;
use orderflow_shared::topology::{scope, RISK_CHECK};
use serde_json::{json, Value};

use crate::{exceptions, orders};

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    // The console's pages are files, not JSON: served before the API's routing.
    if let Some(page) = console::answer(&request) {
        orderflow_shared::edge::metrics::answered(RISK_CHECK, page.status().as_u16());
        return page;
    }
    api::serve(&request, RISK_CHECK, |r| dispatch(deps, r)).await
}

async fn dispatch(deps: &Deps, r: Routed<'_>) -> Result<ApiResponse> {
    let order_id = r.param("order_id");
    Ok(match (r.method, r.path) {
        ("GET", "/health") => ApiResponse::new(200, json!({"status": "ok"})),
        ("POST", "/orders") => {
            let (status, body) = orders::place(deps, &r.caller, &parse_body(r.body)?).await?;
            ApiResponse::new(status, risk_details_for(&r.caller, body))
        }
        ("GET", "/orders/{order_id}") => {
            ApiResponse::new(200, risk_details_for(&r.caller, orders::show(deps, &r.caller, order_id).await?))
        }
        ("GET", "/orders/{order_id}/timeline") => {
            ApiResponse::new(200, orders::timeline(deps, &r.caller, order_id).await?)
        }
        ("POST", "/orders/{order_id}/prepayment") => {
            let (status, body) = orders::pay(deps, &r.caller, order_id, &parse_body(r.body)?).await?;
            ApiResponse::new(status, body)
        }
        ("GET", "/exceptions") => ApiResponse::new(200, exceptions::list(deps, &r).await?),
        ("POST", "/orders/{order_id}/reaudit") => {
            let (status, body) = exceptions::reaudit(deps, &r.caller, order_id, &parse_body(r.body)?).await?;
            ApiResponse::new(status, body)
        }
        _ => ApiResponse::not_found_route(r.method, r.path),
    })
}

/// An order's view with its risk details (the rules that matched, the score: what a
/// fraudster would tune against) only for a caller with `ops.read`; the level stays.
fn risk_details_for(caller: &Caller, mut view: Value) -> Value {
    if !caller.has(scope::OPS_READ) {
        if let Some(risk) = view.get_mut("risk").and_then(Value::as_object_mut) {
            risk.remove("matched_rules");
            risk.remove("score");
        }
    }
    view
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
