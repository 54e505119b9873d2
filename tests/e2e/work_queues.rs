//! People's work queues, end to end on both backends with real tokens: a docking team's
//! audit exceptions and a re-audit on request (DOMAIN §1 step 7), held to the team a
//! token names, and the reviewers' queue of refunds.

use serde_json::{json, Value};

use crate::auth::{album, call, Tokens};
use crate::scenario;
use crate::support::{audit_failed, audit_passed, retail_order, Harness};

const DOCK: &[&str] = &["exceptions.handle"];

async fn exceptions(h: &Harness, token: &str, query: &str) -> Value {
    let (status, page) = call(h, Some(token), "GET", &format!("/exceptions?{query}"), &json!({})).await;
    assert_eq!(status, 200, "{query}: {page}");
    page
}

fn order_ids(page: &Value) -> Vec<&str> {
    page["exceptions"].as_array().into_iter().flatten().filter_map(|e| e["order_id"].as_str()).collect()
}

scenario!(a_docking_person_reaudits_an_open_exception_until_it_closes, |mut h: Harness| async move {
    let t = Tokens::on(&mut h);
    let dock = t.token(&h, "dock-1", DOCK, json!({}));
    let admin = t.token(&h, "svc", &["orders.write", "orders.read"], json!({}));
    for id in ["wq-1", "wq-2", "wq-3"] {
        let (status, placed) = call(&h, Some(&admin), "POST", "/orders", &retail_order(id, "c-wq", "100.00")).await;
        assert_eq!((status, placed["status"].as_str()), (201, Some("DISPATCHED")), "{placed}");
    }
    h.audit_result("audit.failed", audit_failed("a-1", "wq-1", "STOCK_SHORTAGE", h.now())).await;
    h.advance(60).await;
    h.audit_result("audit.failed", audit_failed("a-2", "wq-2", "DOWNSTREAM_TIMEOUT", h.now())).await;

    // The team's open exceptions, newest first, a page at a time.
    let page = exceptions(&h, &dock, "team=inventory&state=open").await;
    assert_eq!(order_ids(&page), ["wq-1"], "only inventory's: {page}");
    let all_open = exceptions(&h, &dock, "team=platform").await;
    assert_eq!(order_ids(&all_open), ["wq-2"], "DOWNSTREAM_TIMEOUT goes to platform: {all_open}");
    let first = &page["exceptions"][0];
    assert_eq!(
        (first["state"].as_str(), first["reason_code"].as_str(), first["attempts"].as_u64()),
        (Some("open"), Some("STOCK_SHORTAGE"), Some(1)),
        "{first}"
    );
    assert!(first["next_reaudit_at"].is_string() && first["window_ends_at"].is_string(), "{first}");
    assert_eq!(first["failure"]["audit_id"], "a-1");

    // A re-audit now: audit.requested with the next attempt goes out at once.
    let ask = json!({"request_id": "rq-1", "note": "restocked at the warehouse"});
    let (status, answer) = call(&h, Some(&dock), "POST", "/orders/wq-1/reaudit", &ask).await;
    assert_eq!((status, answer["attempt"].as_u64()), (202, Some(2)), "{answer}");
    let requests = h.about("audit-requests", "audit.requested", "wq-1").await;
    let attempts: Vec<&Value> = requests.iter().map(|m| &m.message["data"]["attempt"]).collect();
    assert_eq!(attempts, [&json!(1), &json!(2)], "the dispatch's request, then the re-audit");
    assert_eq!(requests.last().map(|m| m.message["id"].clone()), Some(json!("wq-1:audit.requested:2")));

    // The same request again: the same answer, nothing more sent; another note: 409.
    let before = call(&h, Some(&admin), "GET", "/orders/wq-1", &json!({})).await.1;
    assert_eq!(call(&h, Some(&dock), "POST", "/orders/wq-1/reaudit", &ask).await, (202, answer.clone()));
    let other = json!({"request_id": "rq-1", "note": "something else"});
    let (status, err) = call(&h, Some(&dock), "POST", "/orders/wq-1/reaudit", &other).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "{err}");
    assert_eq!(h.about("audit-requests", "audit.requested", "wq-1").await.len(), 2, "nothing more sent");
    assert_eq!(call(&h, Some(&admin), "GET", "/orders/wq-1", &json!({})).await.1, before, "nothing changed");

    // An unknown order, and an order without an exception.
    let fresh = json!({"request_id": "rq-2", "note": "n"});
    assert_eq!(call(&h, Some(&dock), "POST", "/orders/wq-none/reaudit", &fresh).await.0, 404);
    let (status, err) = call(&h, Some(&dock), "POST", "/orders/wq-3/reaudit", &fresh).await;
    assert_eq!(status, 409, "no exception: {err}");

    // The middle office passes it: the exception closes and leaves the open list.
    h.audit_result("audit.passed", audit_passed("a-3", "wq-1", h.now())).await;
    assert_eq!(h.about("order-events", "order.audit.approved", "wq-1").await.len(), 1);
    assert!(order_ids(&exceptions(&h, &dock, "team=inventory&state=open").await).is_empty());
    let closed = exceptions(&h, &dock, "team=inventory&state=closed").await;
    assert_eq!(order_ids(&closed), ["wq-1"], "{closed}");
    assert_eq!(closed["exceptions"][0]["state"], "closed");
    assert!(closed["exceptions"][0]["next_reaudit_at"].is_null());
    assert_eq!(closed["exceptions"][0]["reaudits"][0]["by"], "dock-1");
    let (status, err) = call(&h, Some(&dock), "POST", "/orders/wq-1/reaudit", &fresh).await;
    assert_eq!(status, 409, "a closed exception: {err}");
    assert_eq!(h.about("audit-requests", "audit.requested", "wq-1").await.len(), 2, "nothing more sent");

    // Without the scope: 403.
    let (status, _) = call(&h, Some(&admin), "GET", "/exceptions?team=inventory", &json!({})).await;
    assert_eq!(status, 403);

    // A docking person's token names its team (claim `team`): that team's exceptions
    // only, to read and to re-audit.
    let platform = t.token(&h, "dock-2", DOCK, json!({"team": "platform"}));
    assert_eq!(order_ids(&exceptions(&h, &platform, "team=platform").await), ["wq-2"]);
    let (status, err) = call(&h, Some(&platform), "GET", "/exceptions?team=inventory", &json!({})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("team platform's token may not"), "{err}");
    h.audit_result("audit.failed", audit_failed("a-4", "wq-3", "STOCK_SHORTAGE", h.now())).await;
    let ask = json!({"request_id": "rq-3", "note": "not ours"});
    let (status, err) = call(&h, Some(&platform), "POST", "/orders/wq-3/reaudit", &ask).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "inventory's exception: {err}");
    assert_eq!(h.about("audit-requests", "audit.requested", "wq-3").await.len(), 1, "only the dispatch's request");
    let (status, answer) = call(&h, Some(&platform), "POST", "/orders/wq-2/reaudit", &ask).await;
    assert_eq!((status, answer["attempt"].as_u64()), (202, Some(2)), "its own team's: {answer}");
});

scenario!(exception_pages_follow_their_cursor_and_refuse_foreign_ones, |h: Harness| async move {
    for (i, id) in ["pg-1", "pg-2", "pg-3"].into_iter().enumerate() {
        h.dispatched_order(id).await;
        h.audit_result("audit.failed", audit_failed(&format!("a-{i}"), id, "STOCK_SHORTAGE", h.now())).await;
        h.advance(60).await;
    }
    let (status, page) = h.get("/exceptions?team=inventory&limit=2").await;
    assert_eq!((status, order_ids(&page)), (200, vec!["pg-3", "pg-2"]), "newest first: {page}");
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let (status, rest) = h.get(&format!("/exceptions?team=inventory&limit=2&cursor={cursor}")).await;
    assert_eq!((status, order_ids(&rest)), (200, vec!["pg-1"]), "{rest}");
    assert!(rest["next_cursor"].is_null(), "{rest}");

    // A cursor that was not ours, or of another list: 400 naming it.
    for query in [
        "team=inventory&cursor=bm90LW91cnM".to_string(),
        "team=inventory&cursor=%25%25".to_string(),
        format!("team=inventory&state=closed&cursor={cursor}"),
        format!("team=payments&cursor={cursor}"),
    ] {
        let (status, err) = h.get(&format!("/exceptions?{query}")).await;
        assert_eq!((status, err["error"]["field"].as_str()), (400, Some("cursor")), "{query}: {err}");
    }
    for (query, field) in
        [("state=open", "team"), ("team=inventory&state=shut", "state"), ("team=inventory&limit=0", "limit")]
    {
        let (status, err) = h.get(&format!("/exceptions?{query}")).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{query}: {err}");
    }
});

/// A 360-day membership paid 107.00 by `LENDING`: a refund of it awaits a platform reviewer.
fn lending_membership(h: &Harness, id: &str) -> Value {
    let start = h.now();
    let product = json!({"kind": "MEMBERSHIP", "service_start": start.to_rfc3339(),
        "service_end": (start + chrono::Duration::days(360)).to_rfc3339()});
    let item = json!({"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00", "tax": "6.00", "fee": "1.00"});
    json!({"order_id": id, "customer_id": format!("c-{id}"), "business_type": "digital", "currency": "CNY",
           "items": [item], "product": product,
           "payment": {"method": "LENDING", "paid_at": start.to_rfc3339(),
                       "splits": [{"channel": "LENDING", "amount": "107.00"}]}})
}

fn refund_ids(page: &Value) -> Vec<String> {
    page["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["refund_id"].as_str().map(str::to_string))
        .collect()
}

scenario!(reviewers_list_and_decide_the_refunds_waiting_for_them, |mut h: Harness| async move {
    let t = Tokens::on(&mut h);
    let svc = t.token(&h, "svc", &["orders.write", "refunds.request"], json!({}));
    let mut orders = vec![album(&h, "rq-s1", "c-rq1"), album(&h, "rq-s2", "c-rq2"), lending_membership(&h, "rq-p1")];
    orders[1]["product"]["seller_id"] = json!("s-2");
    let mut ids = Vec::new();
    for order in &orders {
        assert_eq!(call(&h, Some(&svc), "POST", "/orders", order).await.0, 201);
        let request = json!({"request_id": format!("r-{}", order["order_id"].as_str().unwrap_or_default()),
                             "order_id": order["order_id"], "scenario": order["product"]["kind"]});
        let (status, refund) = call(&h, Some(&svc), "POST", "/refunds", &request).await;
        assert_eq!((status, refund["status"].as_str()), (201, Some("PENDING_REVIEW")), "{refund}");
        ids.push(refund["refund_id"].as_str().unwrap_or_default().to_string());
        h.advance(1).await;
    }
    let platform = t.token(&h, "pf-1", &["refunds.review"], json!({"reviewer_role": "platform"}));
    let seller = t.token(&h, "sl-1", &["refunds.review"], json!({"reviewer_role": "seller", "seller_id": "s-1"}));
    let list = |token: String, query: &'static str| {
        let h = &h;
        async move { call(h, Some(&token), "GET", &format!("/refunds?{query}"), &json!({})).await }
    };

    // Each reviewer sees its own queue: the platform's, and a seller its seller's only.
    let (status, queue) = list(platform.clone(), "status=PENDING_REVIEW&role=platform").await;
    assert_eq!((status, refund_ids(&queue)), (200, vec![ids[2].clone()]), "{queue}");
    let (status, queue) = list(seller.clone(), "status=PENDING_REVIEW&role=seller").await;
    assert_eq!((status, refund_ids(&queue)), (200, vec![ids[0].clone()]), "only s-1's: {queue}");
    assert_eq!(list(seller.clone(), "role=platform").await.0, 403, "another role's queue");
    assert_eq!(list(seller.clone(), "role=seller&seller_id=s-2").await.0, 403, "another seller's queue");
    assert_eq!(list(platform.clone(), "status=APPROVED&role=platform").await.0, 422);

    // Deciding a refund takes it out of the queue.
    let path = format!("/refunds/{}/review", ids[0]);
    let (status, decided) =
        call(&h, Some(&seller), "POST", &path, &json!({"decision_id": "dec-rq1", "decision": "APPROVE"})).await;
    assert_eq!((status, decided["status"].as_str()), (200, Some("APPROVED")), "{decided}");
    let (_, queue) = list(seller.clone(), "role=seller").await;
    assert!(refund_ids(&queue).is_empty(), "{queue}");
    let path = format!("/refunds/{}/review", ids[2]);
    let (status, _) =
        call(&h, Some(&platform), "POST", &path, &json!({"decision_id": "dec-rq3", "decision": "REJECT"})).await;
    assert_eq!(status, 200);
    let (_, queue) = list(platform.clone(), "role=platform").await;
    assert!(refund_ids(&queue).is_empty(), "{queue}");

    // With authentication off, the query names the queue; the seller queue needs its seller.
    h.rt.auth = orderflow_local::auth::Auth::Off;
    let (status, queue) = h.get("/refunds?role=seller&seller_id=s-2").await;
    assert_eq!((status, refund_ids(&queue)), (200, vec![ids[1].clone()]), "{queue}");
    let (status, err) = h.get("/refunds?role=seller").await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("seller_id")), "{err}");
    let (status, err) = h.get("/refunds?status=PENDING_REVIEW").await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("role")), "{err}");
});
