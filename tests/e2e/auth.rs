//! Who may do what, end to end on both backends with real tokens: the runtime checks
//! bearer tokens as API Gateway's JWT authorizer does and hands the handlers the same
//! context; the handlers take the caller from it, never from the body.

use std::sync::Arc;

use chrono::Duration;
use orderflow_local::auth::{Auth, Keys};
use orderflow_local::router;
use serde_json::{json, Map, Value};

use crate::scenario;
use crate::support::{retail_order, Harness};

pub(crate) struct Tokens {
    keys: Arc<Keys>,
}

impl Tokens {
    /// Turns tokens on in `h`'s runtime.
    pub(crate) fn on(h: &mut Harness) -> Tokens {
        let keys = Arc::new(Keys::random());
        h.rt.auth = Auth::Tokens(keys.clone());
        Tokens { keys }
    }

    pub(crate) fn token(&self, h: &Harness, sub: &str, scopes: &[&str], claims: Value) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let claims: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
        // The tokens' times are real time, as API Gateway checks them.
        let _ = h;
        self.keys.issue(sub, &scopes, &claims, chrono::Utc::now(), Duration::hours(1)).expect("token issued")
    }
}

pub(crate) async fn call(h: &Harness, token: Option<&str>, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let header = token.map(|t| format!("Bearer {t}"));
    let bytes = if method == "GET" { Vec::new() } else { body.to_string().into_bytes() };
    let reply = router::handle_with(&h.rt, method, path, header.as_deref(), &bytes).await;
    (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null))
}

pub(crate) fn album(h: &Harness, id: &str, customer: &str) -> Value {
    let product = json!({"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5,
                         "seller_id": "s-1"});
    let item = json!({"sku": "ALBUM-1", "quantity": 1, "unit_price": "60.00", "tax": "3.00", "fee": "0.50"});
    let paid_at = (h.now() - Duration::days(3)).to_rfc3339();
    json!({"order_id": id, "customer_id": customer, "business_type": "digital", "currency": "CNY",
           "items": [item], "product": product,
           "payment": {"method": "THIRD_PARTY", "paid_at": paid_at,
                       "splits": [{"channel": "THIRD_PARTY", "amount": "50.00"}, {"channel": "VIRTUAL_COINS", "amount": "13.50"}]}})
}

scenario!(every_route_needs_a_token_with_its_scope, |mut h: Harness| async move {
    let t = Tokens::on(&mut h);
    let (status, _) = call(&h, None, "GET", "/health", &json!({})).await;
    assert_eq!(status, 200, "/health stays open");
    let order = retail_order("au-1", "c-au1", "10.00");
    let routes: [(&str, &str, Value, &str); 7] = [
        ("POST", "/orders", order.clone(), "orders.write"),
        ("GET", "/orders/au-1", json!({}), "orders.read"),
        (
            "POST",
            "/orders/au-1/prepayment",
            json!({"payment_ref": "p-1", "currency": "CNY", "amount": "1.00"}),
            "orders.write",
        ),
        (
            "POST",
            "/fulfilment/status",
            json!({"order_id": "au-1", "system": "payment", "node": "payment", "status": "DONE"}),
            "fulfilment.report",
        ),
        ("POST", "/refunds", json!({"request_id": "r-1", "order_id": "au-1", "scenario": "ALBUM"}), "refunds.request"),
        ("GET", "/refunds/rf-none", json!({}), "refunds.review"),
        ("POST", "/refunds/rf-none/review", json!({"decision_id": "d-1", "decision": "APPROVE"}), "refunds.review"),
    ];
    let bad = t.token(&h, "svc", &["ops.read"], json!({}));
    for (method, path, body, _) in &routes {
        let (status, err) = call(&h, None, method, path, body).await;
        assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthorized")), "{method} {path}: {err}");
        let (status, err) = call(&h, Some("not-a-token"), method, path, body).await;
        assert_eq!(status, 401, "{method} {path}: {err}");
        let (status, err) = call(&h, Some(&bad), method, path, body).await;
        assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {err}");
    }
    // With the scope, each route answers as documented (a service token, no customer).
    let svc = |scope: &str, claims: Value| t.token(&h, "svc", &[scope], claims);
    assert_eq!(call(&h, Some(&svc("orders.write", json!({}))), "POST", "/orders", &order).await.0, 201);
    let (status, view) = call(&h, Some(&svc("orders.read", json!({}))), "GET", "/orders/au-1", &json!({})).await;
    assert_eq!((status, view["order_id"].as_str()), (200, Some("au-1")));
    let report = json!({"order_id": "au-1", "system": "payment", "node": "payment", "status": "DONE",
                        "occurred_at": h.now().to_rfc3339()});
    h.settle().await;
    let reporter = svc("fulfilment.report", json!({"system": "payment"}));
    assert_eq!(call(&h, Some(&reporter), "POST", "/fulfilment/status", &report).await.0, 202);
    let (status, _) = call(&h, Some(&svc("refunds.review", json!({}))), "GET", "/refunds/rf-none", &json!({})).await;
    assert_eq!(status, 404, "a refund that does not exist, once the caller may look");
});

scenario!(a_customer_acts_for_itself_only_and_sees_no_risk_details, |mut h: Harness| async move {
    let t = Tokens::on(&mut h);
    let scopes = ["orders.write", "orders.read", "refunds.request"];
    let alice = t.token(&h, "alice", &scopes, json!({"customer_id": "c-alice"}));
    let bob = t.token(&h, "bob", &scopes, json!({"customer_id": "c-bob"}));
    let (status, err) = call(&h, Some(&alice), "POST", "/orders", &retail_order("au-2", "c-bob", "10.00")).await;
    assert_eq!(status, 403, "alice places an order for bob: {err}");
    let (status, placed) = call(&h, Some(&alice), "POST", "/orders", &album(&h, "au-3", "c-alice")).await;
    assert_eq!(status, 201, "{placed}");
    assert!(placed["risk"].get("matched_rules").is_none() && placed["risk"].get("score").is_none(), "{placed}");
    assert!(placed["risk"]["level"].is_string());
    assert_eq!(call(&h, Some(&bob), "GET", "/orders/au-3", &json!({})).await.0, 403, "bob reads alice's order");
    let refund = json!({"request_id": "r-au3", "order_id": "au-3", "scenario": "ALBUM"});
    assert_eq!(call(&h, Some(&bob), "POST", "/refunds", &refund).await.0, 403, "bob refunds alice's order");
    let (status, mine) = call(&h, Some(&alice), "POST", "/refunds", &refund).await;
    assert_eq!(status, 201, "{mine}");
    let id = mine["refund_id"].as_str().expect("refund id").to_string();
    assert_eq!(call(&h, Some(&bob), "GET", &format!("/refunds/{id}"), &json!({})).await.0, 403);
    assert_eq!(call(&h, Some(&alice), "GET", &format!("/refunds/{id}"), &json!({})).await.0, 200);
    // Operations see the details.
    let ops = t.token(&h, "ops", &["orders.read", "ops.read"], json!({}));
    let (_, view) = call(&h, Some(&ops), "GET", "/orders/au-3", &json!({})).await;
    assert!(view["risk"]["matched_rules"].is_array(), "{view}");
});

scenario!(reporters_and_reviewers_are_who_their_tokens_say, |mut h: Harness| async move {
    let t = Tokens::on(&mut h);
    let admin = t.token(&h, "svc", &["orders.write", "refunds.request"], json!({}));
    assert_eq!(call(&h, Some(&admin), "POST", "/orders", &retail_order("au-4", "c-au4", "10.00")).await.0, 201);
    h.settle().await;
    let warehouse = t.token(&h, "wh-1", &["fulfilment.report"], json!({"system": "warehouse"}));
    let as_carrier = json!({"order_id": "au-4", "system": "carrier", "node": "carrier", "status": "DELIVERED",
                            "occurred_at": h.now().to_rfc3339()});
    let (status, err) = call(&h, Some(&warehouse), "POST", "/fulfilment/status", &as_carrier).await;
    assert_eq!(status, 403, "the warehouse reports as the carrier: {err}");

    assert_eq!(call(&h, Some(&admin), "POST", "/orders", &album(&h, "au-5", "c-au5")).await.0, 201);
    let (_, refund) = call(
        &h,
        Some(&admin),
        "POST",
        "/refunds",
        &json!({"request_id": "r-au5", "order_id": "au-5", "scenario": "ALBUM"}),
    )
    .await;
    assert_eq!(refund["reviewer_role"], "seller", "{refund}");
    let path = format!("/refunds/{}/review", refund["refund_id"].as_str().expect("refund id"));
    let platform = t.token(&h, "pf-1", &["refunds.review"], json!({"reviewer_role": "platform"}));
    let seller = t.token(&h, "sl-1", &["refunds.review"], json!({"reviewer_role": "seller", "seller_id": "s-1"}));
    let other_seller = t.token(&h, "sl-2", &["refunds.review"], json!({"reviewer_role": "seller", "seller_id": "s-2"}));
    let approve = json!({"decision_id": "dec-au5", "decision": "APPROVE"});
    assert_eq!(
        call(&h, Some(&platform), "POST", &path, &approve).await.0,
        403,
        "a platform reviewer on a seller refund"
    );
    // A body claiming another reviewer than the token is refused, whatever it says.
    let claiming =
        json!({"decision_id": "dec-au5", "decision": "APPROVE", "reviewer": {"role": "seller", "id": "someone-else"}});
    assert_eq!(call(&h, Some(&seller), "POST", &path, &claiming).await.0, 403);
    let (status, err) = call(&h, Some(&other_seller), "POST", &path, &approve).await;
    assert_eq!(status, 403, "another seller's reviewer: {err}");
    let (status, decided) = call(&h, Some(&seller), "POST", &path, &approve).await;
    assert_eq!((status, decided["status"].as_str()), (200, Some("APPROVED")), "{decided}");
    assert_eq!(decided["decision"]["reviewer_id"], "sl-1", "the reviewer's id is the token's subject: {decided}");

    // Reviewing it again under another identity of the same seller, or as the same
    // reviewer with another decision, is a conflict and changes nothing.
    let colleague = t.token(&h, "sl-3", &["refunds.review"], json!({"reviewer_role": "seller", "seller_id": "s-1"}));
    let reject = json!({"decision_id": "dec-au5-again", "decision": "REJECT"});
    for token in [&colleague, &seller] {
        let (status, err) = call(&h, Some(token), "POST", &path, &reject).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "a second review: {err}");
    }
    let (_, after) = call(&h, Some(&seller), "GET", &path.replace("/review", ""), &json!({})).await;
    assert_eq!((after["status"].as_str(), &after["decision"]), (Some("APPROVED"), &decided["decision"]), "{after}");
});
