//! HTTP entry point: routes a request by the topology and maps every outcome, success or
//! error, to a JSON response. Runs the same under `lambda_http` and the local runtime.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::error::Result;
use orderflow_shared::http::ApiResponse;
use orderflow_shared::input::parse_body;
use orderflow_shared::topology::{RouteMatch, RISK_CHECK, TOPOLOGY};
use serde_json::json;

use crate::orders;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let body: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let answer = match TOPOLOGY.route(&method, &path) {
        RouteMatch::Found(route, params) if route.function == RISK_CHECK => {
            let param = |name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("");
            dispatch(deps, route.method, route.path, param("order_id"), body).await.unwrap_or_else(|e| (&e).into())
        }
        RouteMatch::MethodNotAllowed => ApiResponse::method_not_allowed(&method, &path),
        _ => ApiResponse::not_found_route(&method, &path),
    };
    to_response(answer)
}

async fn dispatch(deps: &Deps, method: &str, path: &str, order_id: &str, body: &[u8]) -> Result<ApiResponse> {
    Ok(match (method, path) {
        ("GET", "/health") => ApiResponse::new(200, json!({"status": "ok"})),
        ("POST", "/orders") => {
            let (status, body) = orders::place(deps, &parse_body(body)?).await?;
            ApiResponse::new(status, body)
        }
        ("GET", "/orders/{order_id}") => ApiResponse::new(200, orders::show(deps, order_id).await?),
        ("POST", "/orders/{order_id}/prepayment") => {
            let (status, body) = orders::pay(deps, order_id, &parse_body(body)?).await?;
            ApiResponse::new(status, body)
        }
        _ => ApiResponse::not_found_route(method, path),
    })
}

pub fn to_response(answer: ApiResponse) -> Response<Body> {
    Response::builder()
        .status(answer.status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(answer.body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(answer.body.to_string())))
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
