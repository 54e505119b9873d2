//! Every route of the HTTP API, sent mutations of its valid bodies (and hostile path
//! parameters): no panic, no `5xx`, the error shape, nothing stored or published for a
//! refused request, nothing dead-lettered downstream of an accepted one, and the
//! baseline still readable. An accepted order is followed further (read back, refunded,
//! reviewed, the clock moved two days) to reach the code behind it.

use std::fmt;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::checks;
use crate::engine::{fuzz, Failure};
use crate::hostile::{body, path_param};
use crate::json::show;
use crate::world::{self, album, membership, retail, World, REFUND, START};

#[derive(Clone)]
pub struct HttpCase {
    method: &'static str,
    route: &'static str,
    path: String,
    body: Vec<u8>,
}

impl fmt::Debug for HttpCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.method, show(self.path.as_bytes()), show(&self.body))
    }
}

/// Requests to `route`, its `{param}` (if any) drawn from `known` ids or hostile ones.
fn requests(
    method: &'static str,
    route: &'static str,
    known: &'static [&'static str],
    templates: Vec<Value>,
) -> BoxedStrategy<HttpCase> {
    let bodies = if templates.is_empty() { Just(Vec::new()).boxed() } else { body(templates) };
    (path_param(known), bodies)
        .prop_map(move |(param, body)| {
            let path = match route.split_once('{') {
                Some((head, rest)) => format!("{head}{param}{}", rest.split_once('}').map_or("", |(_, tail)| tail)),
                None => route.to_string(),
            };
            HttpCase { method, route, path, body }
        })
        .boxed()
}

async fn run(case: HttpCase) -> Result<(), Failure> {
    let route = format!("{} {}", case.method, case.route);
    let w = World::baseline().await?;
    let (mark, dead) = (w.effects.mark(), w.dead_letters().await);
    let path = case.path.replace(REFUND, &w.refund);
    let reply = w.call(case.method, &path, &case.body).await;
    crate::capture::tally(reply.status.to_string());
    if std::env::var_os("FUZZ_DIAG").is_some() && reply.status >= 400 {
        let v: Value = serde_json::from_str(&reply.body).unwrap_or_default();
        let m: String = v["error"]["message"].as_str().unwrap_or_default().chars().take(40).collect();
        crate::capture::tally(format!("\n  {} {} {m}", reply.status, v["error"]["field"]));
    }
    checks::reply(&route, &reply)?;
    let effects = w.effects.since(mark);
    if reply.status >= 400 && !effects.is_empty() {
        let signature = format!("{route}: a refused request ({}) changed state", reply.status);
        return Err(Failure::new(signature, format!("{}\n  effects: {}", reply.body, effects.join(", "))));
    }
    w.settle().await?;
    if reply.status < 300 {
        let answer: Value = serde_json::from_str(&reply.body).unwrap_or_default();
        follow(&w, case.route, &answer).await?;
        w.settle().await?;
        if w.dead_letters().await > dead {
            let logs = crate::capture::logs(1500);
            return Err(Failure::new(format!("{route}: an accepted request ends in a dead-letter queue"), logs));
        }
    }
    w.baseline_readable().await
}

/// Sends `body` to `path` and checks the answer; returns it.
async fn step(w: &World, method: &str, path: &str, body: &Value) -> Result<(u16, Value), Failure> {
    let text = if method == "GET" { String::new() } else { body.to_string() };
    let reply = w.call(method, path, text.as_bytes()).await;
    let route = format!("follow-up {method} {}", route_of(path));
    crate::capture::tally(format!("{route} {}", reply.status));
    checks::reply(&route, &reply).map_err(|f| Failure::new(f.signature, format!("{}\n  after: {path}", f.detail)))?;
    Ok((reply.status, serde_json::from_str(&reply.body).unwrap_or_default()))
}

fn route_of(path: &str) -> &'static str {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [_, "orders", _] => "/orders/{order_id}",
        [_, "refunds", _] => "/refunds/{refund_id}",
        [_, "refunds", _, "review"] => "/refunds/{refund_id}/review",
        [_, "refunds"] => "/refunds",
        _ => "/_local/clock/advance",
    }
}

/// What a user would do next with what was accepted.
async fn follow(w: &World, route: &str, answer: &Value) -> Result<(), Failure> {
    let text = |k: &str| answer[k].as_str().unwrap_or_default().to_string();
    match route {
        "/orders" => {
            let id = text("order_id");
            let (status, order) = step(w, "GET", &format!("/orders/{id}"), &Value::Null).await?;
            if status != 200 {
                return Err(Failure::new(
                    "POST /orders: an accepted order cannot be read back",
                    format!("{status} {order}"),
                ));
            }
            if order["business_type"] == "digital" || order["request"]["business_type"] == "digital" {
                for scenario in ["MEMBERSHIP", "ALBUM"] {
                    let request = json!({"request_id": format!("fz-{scenario}"), "order_id": id, "scenario": scenario});
                    let (status, refund) = step(w, "POST", "/refunds", &request).await?;
                    if status < 300 {
                        review(w, &refund).await?;
                    }
                }
            }
            step(w, "POST", "/_local/clock/advance", &json!({"seconds": 2 * 86_400})).await?;
            step(w, "GET", &format!("/orders/{id}"), &Value::Null).await.map(drop)
        }
        "/refunds" | "/refunds/{refund_id}/review" => review(w, answer).await,
        _ => Ok(()),
    }
}

/// A refund pending review is reviewed by both roles (one of them is refused); then
/// read back.
async fn review(w: &World, refund: &Value) -> Result<(), Failure> {
    let id = refund["refund_id"].as_str().unwrap_or_default();
    if refund["status"] == "PENDING_REVIEW" {
        for role in ["platform", "seller"] {
            let decision = json!({"decision_id": format!("fz-{role}"), "decision": "APPROVE", "reviewer": {"role": role, "id": "u-9"}});
            step(w, "POST", &format!("/refunds/{id}/review"), &decision).await?;
        }
    }
    step(w, "GET", &format!("/refunds/{id}"), &Value::Null).await.map(drop)
}

fn status_report(order: &str, system: &str, status: &str) -> Value {
    json!({"order_id": order, "system": system, "node": system, "status": status, "occurred_at": START})
}

#[test]
fn post_orders() {
    let templates =
        vec![retail("o-new", "50.00"), membership("d-new"), album("a-new"), retail("o-1", "50.00"), membership("d-1")];
    fuzz("POST /orders", 800, requests("POST", "/orders", &[""], templates), run);
}

#[test]
fn get_order() {
    fuzz("GET /orders/{order_id}", 150, requests("GET", "/orders/{order_id}", world::ORDERS, vec![]), run);
}

#[test]
fn post_prepayment() {
    let templates = vec![json!({"payment_ref": "p-1", "amount": "60000.00", "currency": "CNY"})];
    let known = &["o-hi", "o-hi", "o-1", "d-1", "o-none"];
    fuzz(
        "POST /orders/{order_id}/prepayment",
        300,
        requests("POST", "/orders/{order_id}/prepayment", known, templates),
        run,
    );
}

#[test]
fn post_fulfilment_status() {
    let templates = vec![
        status_report("o-1", "payment", "DONE"),
        status_report("o-1", "warehouse", "FAILED"),
        status_report("o-1", "carrier", "DELIVERED"),
        status_report("d-1", "entitlement", "DONE"),
    ];
    fuzz("POST /fulfilment/status", 400, requests("POST", "/fulfilment/status", &[""], templates), run);
}

#[test]
fn post_refunds() {
    let templates = vec![
        json!({"request_id": "r-new", "order_id": "d-1", "scenario": "MEMBERSHIP"}),
        json!({"request_id": "r-a2", "order_id": "a-1", "scenario": "ALBUM"}),
        json!({"request_id": "r-a1", "order_id": "a-1", "scenario": "ALBUM"}),
        json!({"request_id": "r-o1", "order_id": "o-1", "scenario": "MEMBERSHIP"}),
    ];
    fuzz("POST /refunds", 400, requests("POST", "/refunds", &[""], templates), run);
}

#[test]
fn get_refund() {
    fuzz("GET /refunds/{refund_id}", 150, requests("GET", "/refunds/{refund_id}", &[REFUND], vec![]), run);
}

#[test]
fn post_review() {
    let templates = vec![
        json!({"decision_id": "dec-1", "decision": "APPROVE", "reviewer": {"role": "seller", "id": "u-3"}}),
        json!({"decision_id": "dec-2", "decision": "REJECT", "reviewer": {"role": "seller", "id": "u-3"}}),
    ];
    let known = &[REFUND, REFUND, "rf-none"];
    fuzz(
        "POST /refunds/{refund_id}/review",
        300,
        requests("POST", "/refunds/{refund_id}/review", known, templates),
        run,
    );
}
