//! HTTP entry point: routes a request by the topology and maps every outcome, success or
//! error, to a JSON response. Runs the same under `lambda_http` and the local runtime.

use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::api::{self, Routed};
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::error::Result;
use orderflow_shared::input::parse_body;
use orderflow_shared::topology::RISK_CHECK;
use serde_json::json;

use crate::orders;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    api::serve(&request, RISK_CHECK, |r| dispatch(deps, r)).await
}

async fn dispatch(deps: &Deps, r: Routed<'_>) -> Result<ApiResponse> {
    let order_id = r.param("order_id");
    Ok(match (r.method, r.path) {
        ("GET", "/health") => ApiResponse::new(200, json!({"status": "ok"})),
        ("POST", "/orders") => {
            let (status, body) = orders::place(deps, &parse_body(r.body)?).await?;
            ApiResponse::new(status, body)
        }
        ("GET", "/orders/{order_id}") => ApiResponse::new(200, orders::show(deps, order_id).await?),
        ("POST", "/orders/{order_id}/prepayment") => {
            let (status, body) = orders::pay(deps, order_id, &parse_body(r.body)?).await?;
            ApiResponse::new(status, body)
        }
        _ => ApiResponse::not_found_route(r.method, r.path),
    })
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
