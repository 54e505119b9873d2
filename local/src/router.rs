//! Routes a request either to the `/_local` control API or, by the topology, to the
//! function that serves it on API Gateway.

use orderflow_shared::trace::TRACEPARENT;
use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use lambda_http::{Body, RequestExt};
use orderflow_shared::edge::caller::{jwt_context, AuthOff};
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::input::{parse_body, Fields};
use orderflow_shared::messages::EventBuilder;
use orderflow_shared::ports::{Clock, OutboundMessage};
use orderflow_shared::topology::RouteMatch;
use orderflow_shared::Error;
use serde_json::{json, Value};

use crate::auth::{bearer, Auth, Verified};
use crate::dead_letters::DeadLetterQueues;
use crate::functions;
use crate::pump;
use crate::runtime::Runtime;

/// How long `settle` waits for the queues to drain.
pub const SETTLE_TIMEOUT: StdDuration = StdDuration::from_secs(60);

/// A response: status and JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
    /// The `traceparent` header a function answered with: the request's trace.
    pub traceparent: Option<String>,
    /// Further headers a function answered with (a console page's media type and
    /// security headers); without a `content-type` among them the body is JSON.
    pub headers: Vec<(String, String)>,
}

impl From<ApiResponse> for Reply {
    fn from(r: ApiResponse) -> Reply {
        Reply { status: r.status, body: r.body.to_string(), allow: r.allow, traceparent: None, headers: Vec::new() }
    }
}

/// A request without credentials (the in-process tests and tools, with auth off).
pub async fn handle(rt: &Runtime, method: &str, path: &str, body: &[u8]) -> Reply {
    handle_with(rt, method, path, None, body).await
}

/// A request with its `Authorization` header, if it has one. On a route that needs
/// credentials, with tokens on, a missing or refused token is answered 401 before any
/// function runs, as API Gateway's JWT authorizer answers it.
pub async fn handle_with(rt: &Runtime, method: &str, path: &str, authorization: Option<&str>, body: &[u8]) -> Reply {
    handle_headers(rt, method, path, Headers { authorization, traceparent: None }, body).await
}

/// The request headers the router hands on, as API Gateway does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    pub authorization: Option<&'a str>,
    /// A W3C trace context the request continues (a malformed one starts a new trace).
    pub traceparent: Option<&'a str>,
}

/// As [`handle_with`], with the request's `traceparent` too.
pub async fn handle_headers(rt: &Runtime, method: &str, path: &str, headers: Headers<'_>, body: &[u8]) -> Reply {
    let authorization = headers.authorization;
    // The function gets the query string with the request; routing reads the path alone.
    let target = path;
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if path == "/_local" || path.starts_with("/_local/") {
        return control(rt, method, path, body).await.unwrap_or_else(|e| (&e).into()).into();
    }
    // The console's sign-in is this runtime's, not the deployed stack's.
    if method == "GET" && path == "/console/config.json" {
        return ApiResponse::new(200, crate::console::config(&rt.auth)).into();
    }
    match rt.topology.route(method, path) {
        RouteMatch::Found(route, _) => {
            let context = match (&rt.auth, route.authorized) {
                (Auth::Off, _) => Credentials::Off,
                (Auth::Tokens(_), false) => Credentials::None,
                (Auth::Tokens(keys), true) => {
                    let verified = authorization
                        .ok_or_else(|| {
                            "a bearer token is required (header `authorization: Bearer <token>`)".to_string()
                        })
                        .and_then(|h| {
                            bearer(h).ok_or_else(|| "the authorization header is not `Bearer <token>`".into())
                        })
                        .and_then(|token| keys.verify(token));
                    match verified {
                        Ok(v) => Credentials::Token(v),
                        Err(why) => return ApiResponse::error(401, "unauthorized", &why, None).into(),
                    }
                }
            };
            invoke(rt, route.function, method, target, body, context, headers.traceparent).await
        }
        RouteMatch::MethodNotAllowed(allowed) => ApiResponse::method_not_allowed(method, path, &allowed).into(),
        RouteMatch::NotFound => ApiResponse::not_found_route(method, path).into(),
    }
}

/// What the router hands the function besides the request, as API Gateway would.
enum Credentials {
    /// `--auth off`: marked so, the function lets it do anything.
    Off,
    /// An open route.
    None,
    /// A verified token: its claims and scopes as the JWT authorizer's context.
    Token(Verified),
}

async fn invoke(
    rt: &Runtime,
    function: &str,
    method: &str,
    path: &str,
    body: &[u8],
    credentials: Credentials,
    traceparent: Option<&str>,
) -> Reply {
    let body = match std::str::from_utf8(body) {
        _ if body.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text.to_string()),
        Err(_) => Body::Binary(body.to_vec()),
    };
    let request =
        lambda_http::http::Request::builder().method(method).uri(path).header("content-type", "application/json");
    let request = match traceparent {
        Some(value) => request.header(TRACEPARENT, value),
        None => request,
    }
    .body(body);
    let Ok(mut request) = request else {
        return ApiResponse::error(400, "validation_failed", "malformed request line", None).into();
    };
    match credentials {
        Credentials::Off => {
            request.extensions_mut().insert(AuthOff);
        }
        Credentials::None => {}
        Credentials::Token(v) => request = request.with_request_context(jwt_context(&v.claims, &v.scopes)),
    }
    let response = functions::http(&rt.deps, function, request).await;
    let text = match response.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !["allow", TRACEPARENT].contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    Reply {
        status: response.status().as_u16(),
        body: text,
        allow: header("allow"),
        traceparent: header(TRACEPARENT),
        headers,
    }
}

fn internal(e: String) -> Error {
    Error::Queue(e)
}

async fn control(rt: &Runtime, method: &str, path: &str, body: &[u8]) -> Result<ApiResponse, Error> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let ok = |v: Value| Ok(ApiResponse::new(200, v));
    match (method, parts.as_slice()) {
        ("POST", ["topics", topic]) => publish(rt, topic, body).await,
        ("GET", ["topics", topic, "messages"]) => match rt.published(topic).await.map_err(internal)? {
            Some(messages) => ok(json!(messages)),
            None => Err(Error::NotFound { what: "topic", id: topic.to_string() }),
        },
        ("GET", ["queues"]) => ok(json!(rt.queue_stats().await.map_err(internal)?)),
        ("GET", ["metrics"]) => ok(crate::metrics::view()),
        ("POST", ["console", "sign-in"]) => crate::console::sign_in(&rt.auth, body),
        ("GET", ["queues", queue, "dead-letters"]) => match rt.topology.queue(queue) {
            Some(_) => ok(json!(DeadLetterQueues::list(rt, queue).await.map_err(internal)?)),
            None => Err(Error::NotFound { what: "queue", id: queue.to_string() }),
        },
        ("POST", ["queues", queue, "dead-letters", "redrive"]) => redrive(rt, queue, body).await,
        ("POST", ["settle"]) => {
            pump::settle(rt, SETTLE_TIMEOUT).await.map_err(internal)?;
            ok(json!({"settled": true}))
        }
        ("GET", ["clock"]) => ok(clock_view(rt)),
        ("POST", ["clock", "advance"]) => advance(rt, body).await,
        (_, route) => Ok(match control_methods(route) {
            Some(allowed) => ApiResponse::method_not_allowed(method, path, &[allowed]),
            None => ApiResponse::not_found_route(method, path),
        }),
    }
}

/// The one method a `/_local` path (split after `/_local/`) answers to, if it is one.
fn control_methods(route: &[&str]) -> Option<&'static str> {
    match route {
        ["topics", _]
        | ["settle"]
        | ["clock", "advance"]
        | ["queues", _, "dead-letters", "redrive"]
        | ["console", "sign-in"] => Some("POST"),
        ["topics", _, "messages"] | ["queues"] | ["queues", _, "dead-letters"] | ["clock"] | ["metrics"] => Some("GET"),
        _ => None,
    }
}

/// `POST /_local/queues/{queue}/dead-letters/redrive` `{dry_run}`: moves the queue's
/// dead letters back onto it (or says which it would).
async fn redrive(rt: &Runtime, queue: &str, body: &[u8]) -> Result<ApiResponse, Error> {
    if rt.topology.queues.iter().all(|q| q.name != queue) {
        return Err(Error::NotFound { what: "queue", id: queue.to_string() });
    }
    let value = if body.is_empty() { json!({}) } else { parse_body(body)? };
    let fields = Fields::root(&value)?;
    if let Some(name) = value.as_object().and_then(|o| o.keys().find(|k| k.as_str() != "dry_run")) {
        return Err(Error::validation(name.as_str(), "is not a field of this request"));
    }
    let dry_run = fields.opt_bool("dry_run")?.unwrap_or(false);
    let ids: Vec<String> = if dry_run {
        rt.dead_letters(queue).await.map_err(internal)?.unwrap_or_default().into_iter().map(|m| m.message_id).collect()
    } else {
        rt.broker().redrive(queue, usize::MAX).await?
    };
    Ok(ApiResponse::new(200, json!({"dry_run": dry_run, "message_ids": ids})))
}

fn clock_view(rt: &Runtime) -> Value {
    let mode = if rt.manual_clock().is_some() { "manual" } else { "system" };
    json!({"now": rt.now(), "mode": mode})
}

/// `POST /_local/topics/{topic}` `{message, attributes}`: publish as an outside system
/// would. A message without a `type` attribute gets one from its body's `type` field.
async fn publish(rt: &Runtime, topic: &str, body: &[u8]) -> Result<ApiResponse, Error> {
    if rt.topology.topic(topic).is_none() {
        return Err(Error::NotFound { what: "topic", id: topic.to_string() });
    }
    let value = parse_body(body)?;
    let fields = Fields::root(&value)?;
    let message = fields.raw("message").ok_or_else(|| Error::validation("message", "is required"))?;
    let text = match message {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut attributes = BTreeMap::new();
    if let Some(attrs) = fields.opt_object("attributes")? {
        let attrs = attrs.fields();
        for (name, value) in value["attributes"].as_object().into_iter().flatten() {
            let text = value.as_str().ok_or_else(|| Error::validation(attrs.path(name), "must be a string"))?;
            attributes.insert(name.clone(), text.to_string());
        }
    }
    if let Some(kind) = message.get("type").and_then(Value::as_str) {
        attributes.entry("type".to_string()).or_insert_with(|| kind.to_string());
    }
    // The message's own id if it has one (a CloudEvent), else a fresh one.
    let id = message.get("id").and_then(Value::as_str).map_or_else(|| rt.deps.ids.next_id(), str::to_string);
    let outbound = OutboundMessage { id, topic: topic.to_string(), body: text, attributes, via: Default::default() };
    rt.deps.publisher.publish(&outbound).await?;
    Ok(ApiResponse::new(202, json!({"published": true})))
}

/// Advances a manual clock to `now + seconds`, firing each schedule at every tick
/// boundary (e.g. each whole minute of `rate(1 minute)`) at which its function has
/// work, and settling the queues after each, so a day of retries replays as it would
/// have happened. Ticks with nothing due would do nothing, so they are skipped.
async fn advance(rt: &Runtime, body: &[u8]) -> Result<ApiResponse, Error> {
    let Some(clock) = rt.manual_clock() else {
        return Err(Error::Conflict("the clock is the system clock; start with --clock manual to advance it".into()));
    };
    let value = parse_body(body)?;
    let seconds = Fields::root(&value)?.u32("seconds")?;
    let target = clock.now() + Duration::seconds(i64::from(seconds));
    pump::settle(rt, SETTLE_TIMEOUT).await.map_err(internal)?;
    let mut last_tick = None;
    while let Some(at) = next_tick(rt, last_tick).await.map_err(internal)?.filter(|at| *at <= target) {
        let now = clock.now();
        if at > now {
            rt.advance_clock(at - now).map_err(internal)?;
        }
        pump::fire_schedules(rt).await.map_err(internal)?;
        pump::settle(rt, SETTLE_TIMEOUT).await.map_err(internal)?;
        last_tick = Some(at);
    }
    let now = clock.now();
    if target > now {
        rt.advance_clock(target - now).map_err(internal)?;
    }
    pump::settle(rt, SETTLE_TIMEOUT).await.map_err(internal)?;
    Ok(ApiResponse::new(200, clock_view(rt)))
}

/// The first tick boundary after `after` (and not before now) at which a schedule's
/// function has work.
async fn next_tick(rt: &Runtime, after: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, String> {
    let mut next: Option<DateTime<Utc>> = None;
    for schedule in rt.topology.schedules {
        let Some(due) = functions::next_due(&rt.deps, schedule.function).await? else { continue };
        let period = pump::rate_seconds(schedule.expression).unwrap_or(60);
        let mut at = pump::align_up(due.max(rt.now()), period);
        // Work still due after its tick (a failed item) waits for the following tick.
        if after.is_some_and(|a| at <= a) {
            at = after.map_or(at, |a| a + Duration::seconds(period));
        }
        next = Some(next.map_or(at, |n| n.min(at)));
    }
    Ok(next)
}

/// Builds a CloudEvent as an outside system would publish it; used by the demo.
pub fn outside_event(topic: &str, id: &str, kind: &str, subject: &str, data: Value, rt: &Runtime) -> Value {
    let builder = EventBuilder { topic, source: "orderflow-local", time: rt.now(), trace: None };
    let message = builder.event(id.to_string(), kind, subject, data);
    json!({"message": serde_json::from_str::<Value>(&message.body).unwrap_or_default(), "attributes": message.attributes})
}
