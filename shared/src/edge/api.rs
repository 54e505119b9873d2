//! The HTTP functions' common entry: route a `lambda_http` request by the topology to the
//! function that serves it, and write every outcome, success or error, as JSON. The same
//! path runs under Lambda and in the local runtime.

use std::future::Future;

use lambda_http::http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use lambda_http::{Body, Request, Response};
use tracing::{info_span, Instrument};

use super::caller::Caller;
use super::http::ApiResponse;
use crate::error::{Error, Result};
use crate::topology::{RouteMatch, TOPOLOGY};
use crate::trace::{self, TRACEPARENT};

/// A request matched to one of the function's routes.
pub struct Routed<'a> {
    /// The route's method and path pattern (`/orders/{order_id}`).
    pub method: &'static str,
    pub path: &'static str,
    params: Vec<(&'static str, String)>,
    /// The query string's parameters, decoded, in order.
    query: Vec<(String, String)>,
    pub body: &'a [u8],
    /// Who is calling, from the request's credentials (the route's scopes checked).
    pub caller: Caller,
}

impl Routed<'_> {
    /// A path parameter (empty when the route has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// A query parameter, if given; a parameter given twice is refused naming it.
    pub fn query(&self, name: &str) -> Result<Option<&str>> {
        let mut values = self.query.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (_, Some(_)) => Err(Error::malformed(name, "is given more than once")),
            (first, None) => Ok(first),
        }
    }

    /// A query parameter that must be given.
    pub fn required_query(&self, name: &str) -> Result<&str> {
        self.query(name)?.ok_or_else(|| Error::validation(name, "is required"))
    }
}

/// Routes `request` to `serve` when it matches a route of `function`; answers 404/405
/// otherwise, 401 to a request without credentials on a route that needs them, 403 to
/// one without the route's scope, and maps errors through the one JSON error shape.
pub async fn serve<'a, F, Fut>(request: &'a Request, function: &'static str, serve: F) -> Response<Body>
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
    // The request's trace, or a new one: every message it causes and every log line
    // about it carry it, and the answer hands it back.
    let trace = trace::for_request(request.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok()));
    let span = info_span!("request", trace_id = %trace.trace_id(), method, path);
    let answer = match TOPOLOGY.route(method, path) {
        RouteMatch::Found(route, params) if route.function == function => {
            let caller = if route.authorized {
                Caller::of(request).and_then(|caller| caller.require_any(route.scopes).map(|()| caller))
            } else {
                Ok(Caller::Anonymous)
            };
            match caller {
                Ok(caller) => {
                    let query = request.uri().query().map(query_pairs).unwrap_or_default();
                    let routed = Routed { method: route.method, path: route.path, params, query, body, caller };
                    let actor = trace::Actor::Caller(routed.caller.subject().to_string());
                    // Boxed: the functions' futures are large, and every caller would
                    // otherwise carry them inline (a debug build's test thread overflows).
                    let served = trace::acting(actor, Box::pin(serve(routed)).instrument(span));
                    trace::scope(trace.clone(), served).await.unwrap_or_else(|e| (&e).into())
                }
                Err(e) => (&e).into(),
            }
        }
        RouteMatch::MethodNotAllowed(allowed) => ApiResponse::method_not_allowed(method, path, &allowed),
        _ => ApiResponse::not_found_route(method, path),
    };
    super::metrics::answered(function, answer.status);
    let mut response = json_response(answer);
    if let Ok(value) = HeaderValue::from_str(&trace.to_string()) {
        response.headers_mut().insert(TRACEPARENT, value);
    }
    response
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
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
