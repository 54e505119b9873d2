//! HTTP entry point: routes a request by the topology and maps every outcome, success or
//! error, to a JSON response. Runs the same under `lambda_http` and the local runtime.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::error::Result;
use orderflow_shared::http::ApiResponse;
use orderflow_shared::input::parse_body;
use orderflow_shared::topology::{RouteMatch, REFUND_CALCULATOR, TOPOLOGY};

use crate::{refunds, review};

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
        RouteMatch::Found(route, params) if route.function == REFUND_CALCULATOR => {
            let param = |name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("");
            dispatch(deps, route.method, route.path, param("refund_id"), body).await.unwrap_or_else(|e| (&e).into())
        }
        RouteMatch::MethodNotAllowed => ApiResponse::method_not_allowed(&method, &path),
        _ => ApiResponse::not_found_route(&method, &path),
    };
    to_response(answer)
}

async fn dispatch(deps: &Deps, method: &str, path: &str, refund_id: &str, body: &[u8]) -> Result<ApiResponse> {
    let (status, body) = match (method, path) {
        ("POST", "/refunds") => refunds::request(deps, &parse_body(body)?).await?,
        ("GET", "/refunds/{refund_id}") => (200, refunds::show(deps, refund_id).await?),
        ("POST", "/refunds/{refund_id}/review") => review::decide(deps, refund_id, &parse_body(body)?).await?,
        _ => return Ok(ApiResponse::not_found_route(method, path)),
    };
    Ok(ApiResponse::new(status, body))
}

fn to_response(answer: ApiResponse) -> Response<Body> {
    Response::builder()
        .status(answer.status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(answer.body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(answer.body.to_string())))
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
