//! HTTP entry point: routes a request by the topology and maps every outcome, success or
//! error, to a JSON response. Runs the same under `lambda_http` and the local runtime.

use lambda_http::{Body, Request, Response};
use orderflow_shared::app::Deps;
use orderflow_shared::edge::api::{self, Routed};
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::error::Result;
use orderflow_shared::input::parse_body;
use orderflow_shared::topology::REFUND_CALCULATOR;

use crate::{queue, refunds, review};

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    api::serve(&request, REFUND_CALCULATOR, |r| dispatch(deps, r)).await
}

async fn dispatch(deps: &Deps, r: Routed<'_>) -> Result<ApiResponse> {
    let refund_id = r.param("refund_id");
    let (status, body) = match (r.method, r.path) {
        ("POST", "/refunds") => refunds::request(deps, &r.caller, &parse_body(r.body)?).await?,
        ("GET", "/refunds") => (200, queue::list(deps, &r).await?),
        ("GET", "/refunds/{refund_id}") => (200, refunds::show(deps, &r.caller, refund_id).await?),
        ("POST", "/refunds/{refund_id}/review") => {
            review::decide(deps, &r.caller, refund_id, &parse_body(r.body)?).await?
        }
        _ => return Ok(ApiResponse::not_found_route(r.method, r.path)),
    };
    Ok(ApiResponse::new(status, body))
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
