//! One id across hops: a W3C trace context (`traceparent`) taken from the API request, or
//! started there, and carried on every message a transition sends (the CloudEvents
//! distributed-tracing extension, and a message attribute through SNS and SQS), so an
//! order's request, its messages, its notification, its fulfilment commands and its log
//! lines share one trace id.
//!
//! The context of the request or record being handled is task-local ([`scope`]); the
//! message builder reads it ([`current`]). A consumer continues the trace of the record
//! it handles; a record without one gets a trace derived from its message id, so a
//! redelivery carries the same one. On Lambda, a trace started at the API takes the
//! X-Ray trace id of the invocation (`_X_AMZN_TRACE_ID`), which links the two.
//!
//! Parsing by hand: the format is one fixed-width line (W3C Trace Context, level 1), and
//! the OpenTelemetry crates that parse it bring an SDK this project does not use.

use std::fmt;
use std::future::Future;

/// The name of the HTTP header, the CloudEvents extension attribute and the SNS/SQS
/// message attribute.
pub const TRACEPARENT: &str = "traceparent";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zero.
    trace_id: String,
    /// 16 lowercase hex digits, not all zero: the span that sent it.
    parent_id: String,
    /// `01` when sampled.
    flags: String,
}

impl TraceContext {
    /// Reads a `traceparent` value; `None` when it is not a valid version-00 one (a
    /// future version's longer value is read by its first four fields, as the
    /// specification asks).
    pub fn parse(value: &str) -> Option<TraceContext> {
        let value = value.trim();
        let mut parts = value.split('-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        let hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let valid = hex(version, 2)
            && version != "ff"
            && (version != "00" || rest.is_none())
            && hex(trace_id, 32)
            && trace_id.bytes().any(|b| b != b'0')
            && hex(parent_id, 16)
            && parent_id.bytes().any(|b| b != b'0')
            && hex(flags, 2);
        valid.then(|| TraceContext {
            trace_id: trace_id.to_string(),
            parent_id: parent_id.to_string(),
            flags: flags.to_string(),
        })
    }

    /// A new trace: the X-Ray trace id of this invocation when there is one
    /// (`Root=1-5759e988-bd862e3fe1be46a994272793` is trace id
    /// `5759e988bd862e3fe1be46a994272793`), else a random one.
    pub fn start(xray: Option<&str>) -> TraceContext {
        let trace_id = xray.and_then(xray_trace_id).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let span = uuid::Uuid::new_v4().simple().to_string();
        TraceContext { trace_id, parent_id: span[..16].to_string(), flags: "01".to_string() }
    }

    /// A trace derived from `seed` (a message id): the same seed gives the same trace,
    /// so a redelivered record that came without one is handled under the same id.
    pub fn derived(seed: &str) -> TraceContext {
        let digest = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes()).simple().to_string();
        let trace_id = if digest.bytes().all(|b| b == b'0') { "1".repeat(32) } else { digest };
        let parent_id = trace_id[16..].to_string();
        let parent_id = if parent_id.bytes().all(|b| b == b'0') { "1".repeat(16) } else { parent_id };
        TraceContext { trace_id, parent_id, flags: "01".to_string() }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

/// The trace id in an X-Ray header or `_X_AMZN_TRACE_ID` value
/// (`Root=1-<8 hex>-<24 hex>;Parent=...;Sampled=1`).
fn xray_trace_id(header: &str) -> Option<String> {
    let root = header.split(';').find_map(|part| part.trim().strip_prefix("Root="))?;
    let mut parts = root.split('-');
    let (version, time, id) = (parts.next()?, parts.next()?, parts.next()?);
    let trace_id = format!("{time}{id}").to_ascii_lowercase();
    let valid = version == "1"
        && parts.next().is_none()
        && time.len() == 8
        && id.len() == 24
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id.bytes().any(|b| b != b'0');
    valid.then_some(trace_id)
}

/// The X-Ray trace header of the current Lambda invocation, if any.
pub fn lambda_xray() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok()
}

/// Who or what caused what is being handled: the caller of a request (its subject), the
/// message a consumer handles (its id), or the schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Caller(String),
    Message(String),
    Schedule(String),
}

tokio::task_local! {
    static CURRENT: TraceContext;
    static ACTOR: Actor;
}

/// Runs `fut` on behalf of `actor`.
pub async fn acting<F: Future>(actor: Actor, fut: F) -> F::Output {
    ACTOR.scope(actor, fut).await
}

/// Who or what caused what is being handled, if known.
pub fn actor() -> Option<Actor> {
    ACTOR.try_with(Clone::clone).ok()
}

/// Runs `fut` with `context` as the trace of everything it sends.
pub async fn scope<F: Future>(context: TraceContext, fut: F) -> F::Output {
    CURRENT.scope(context, fut).await
}

/// The trace of the request or record being handled, if one is in scope.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The trace a request continues: its valid `traceparent` header, else a new one (a
/// malformed header does not fail the request).
pub fn for_request(header: Option<&str>) -> TraceContext {
    header.and_then(TraceContext::parse).unwrap_or_else(|| TraceContext::start(lambda_xray().as_deref()))
}

/// The trace a queue record continues: its `traceparent` message attribute, else the
/// CloudEvents extension in its body, else one derived from its message id.
pub fn for_record(attribute: Option<&str>, body: &str, message_id: &str) -> TraceContext {
    attribute
        .and_then(TraceContext::parse)
        .or_else(|| body_traceparent(body).as_deref().and_then(TraceContext::parse))
        .unwrap_or_else(|| TraceContext::derived(message_id))
}

fn body_traceparent(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        traceparent: Option<String>,
    }
    serde_json::from_str::<Envelope>(body).ok()?.traceparent
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
