//! The HTTP functions' common entry: route a `lambda_http` request by the topology to the
//! function that serves it, and write every outcome, success or error, as JSON. The same
//! path runs under Lambda and in the local runtime.

use std::future::Future;

use lambda_http::http::header::{ALLOW, CONTENT_TYPE};
use lambda_http::{Body, Request, Response};

use super::caller::Caller;
use super::http::ApiResponse;
use crate::error::Result;
use crate::topology::{RouteMatch, TOPOLOGY};

/// A request matched to one of the function's routes.
pub struct Routed<'a> {
    /// The route's method and path pattern (`/orders/{order_id}`).
    pub method: &'static str,
    pub path: &'static str,
    params: Vec<(&'static str, String)>,
    pub body: &'a [u8],
    /// Who is calling, from the request's credentials (the route's scopes checked).
    pub caller: Caller,
}

impl Routed<'_> {
    /// A path parameter (empty when the route has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// Routes `request` to `serve` when it matches a route of `function`; answers 404/405
/// otherwise, 401 to a request without credentials on a route that needs them, 403 to
/// one without the route's scope, and maps errors through the one JSON error shape.
pub async fn serve<'a, F, Fut>(request: &'a Request, function: &str, serve: F) -> Response<Body>
where
    F: FnOnce(Routed<'a>) -> Fut,
    Fut: Future<Output = Result<ApiResponse>>,
{
    let (method, path) = (request.method().as_str(), request.uri().path());
    let body: &[u8] = match request.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let answer = match TOPOLOGY.route(method, path) {
        RouteMatch::Found(route, params) if route.function == function => {
            let caller = if route.authorized {
                Caller::of(request).and_then(|caller| caller.require_any(route.scopes).map(|()| caller))
            } else {
                Ok(Caller::Anonymous)
            };
            match caller {
                Ok(caller) => {
                    let routed = Routed { method: route.method, path: route.path, params, body, caller };
                    serve(routed).await.unwrap_or_else(|e| (&e).into())
                }
                Err(e) => (&e).into(),
            }
        }
        RouteMatch::MethodNotAllowed(allowed) => ApiResponse::method_not_allowed(method, path, &allowed),
        _ => ApiResponse::not_found_route(method, path),
    };
    json_response(answer)
}

pub fn json_response(answer: ApiResponse) -> Response<Body> {
    let mut response = Response::builder().status(answer.status).header(CONTENT_TYPE, "application/json");
    if let Some(allow) = &answer.allow {
        response = response.header(ALLOW, allow.as_str());
    }
    response
        .body(Body::Text(answer.body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(answer.body.to_string())))
}
