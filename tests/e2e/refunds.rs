//! DOMAIN §4 end to end on both backends: unsubscribe requests checked, rejected, sent
//! to review or issued with their channel split and entitlement change. The amounts
//! are the README's worked examples, to the cent. Refund ids are random: tests read
//! them from the answers. Which orders can be refunded at all, secrets and ids: `guards`.

use chrono::Duration;
use serde_json::{json, Value};

use crate::scenario;
use crate::support::{retail_order, Harness};

/// A digital order of one item paid through `splits`, `paid_days_ago` before the
/// runtime's clock. `product` is the order's product.
fn digital_order(h: &Harness, id: &str, item: Value, product: Value, splits: Value, paid_days_ago: i64) -> Value {
    let paid_at = (h.now() - Duration::days(paid_days_ago)).to_rfc3339();
    let method = splits[0]["channel"].clone();
    json!({"order_id": id, "customer_id": format!("c-{id}"), "business_type": "digital", "currency": "CNY",
           "items": [item], "product": product,
           "payment": {"method": method, "paid_at": paid_at, "splits": splits}})
}

/// The first worked example: 120.00 − 20.00 + 6.00 tax + 1.00 fee = 107.00, paid 80.00 by
/// card and 27.00 in coins; a 360-day membership whose first `used_days` have passed.
fn membership(h: &Harness, id: &str, used_days: i64) -> Value {
    let start = h.now() - Duration::days(used_days);
    let product = json!({"kind": "MEMBERSHIP", "service_start": start.to_rfc3339(),
        "service_end": (start + Duration::days(360)).to_rfc3339(),
        "entitlement": {"key": "KEY-1", "user_flags": ["VIP"], "service_content": "ALL_CHANNELS"}});
    let item = json!({"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00", "tax": "6.00", "fee": "1.00"});
    let splits = json!([{"channel": "BANK_CARD", "amount": "80.00"}, {"channel": "VIRTUAL_COINS", "amount": "27.00"}]);
    digital_order(h, id, item, product, splits, used_days)
}

/// The second worked example: 20 episodes at 60.00 + 3.00 tax + 0.50 fee = 63.50, paid
/// 50.00 by a third-party platform and 13.50 in coins, 8 released, 5 consumed.
fn album(h: &Harness, id: &str) -> Value {
    let product = json!({"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5});
    let item = json!({"sku": "ALBUM-1", "quantity": 1, "unit_price": "60.00", "tax": "3.00", "fee": "0.50"});
    let splits =
        json!([{"channel": "THIRD_PARTY", "amount": "50.00"}, {"channel": "VIRTUAL_COINS", "amount": "13.50"}]);
    digital_order(h, id, item, product, splits, 3)
}

async fn place(h: &Harness, order: &Value) {
    let (status, body) = h.post("/orders", order).await;
    assert_eq!(status, 201, "{body}");
}

fn refund_request(request: &str, order: &str, scenario: &str) -> Value {
    json!({"request_id": request, "order_id": order, "scenario": scenario})
}

/// The id of the refund an answer shows.
fn id_of(refund: &Value) -> String {
    refund["refund_id"].as_str().unwrap_or_else(|| panic!("no refund_id in {refund}")).to_string()
}

fn review(decision_id: &str, decision: &str, role: &str) -> Value {
    json!({"decision_id": decision_id, "decision": decision, "reviewer": {"role": role, "id": "u-1"}})
}

/// `(line, amount rounded to the cent)` of every breakdown line.
fn lines(refund: &Value) -> Vec<(String, String)> {
    let cents = |a: &Value| {
        let exact: rust_decimal::Decimal = a.as_str().unwrap().parse().unwrap();
        exact.round_dp(2).to_string()
    };
    refund["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_str().unwrap().into(), cents(&l["amount"])))
        .collect()
}

fn channels(refund: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    refund["channel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (text(&c["channel"]), text(&c["amount"]), text(&c["destination"])))
        .collect()
}

fn owned(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

scenario!(membership_a_third_into_its_term_is_refunded_its_residual_value, |h: Harness| async move {
    place(&h, &membership(&h, "d-1", 120)).await;
    let (status, refund) = h.post("/refunds", &refund_request("r-1", "d-1", "MEMBERSHIP")).await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("APPROVED")), "{refund}");
    assert_eq!((refund["amount"].as_str(), refund["currency"].as_str()), (Some("70.67"), Some("CNY")));
    assert_eq!(
        lines(&refund),
        owned(&[
            ("base", "100.00"),
            ("residual_share", "-33.33"),
            ("tax", "4.00"),
            ("fee", "0.00"),
            ("rounding", "0.00")
        ])
    );
    assert_eq!(refund["breakdown"][1]["detail"], "240 of 360 days unused");
    let split = channels(&refund);
    assert_eq!(
        split,
        [
            ("BANK_CARD".into(), "52.84".into(), "BANK_CARD".into()),
            ("VIRTUAL_COINS".into(), "17.83".into(), "PLATFORM_ACCOUNT".into())
        ]
    );
    assert_eq!(refund["channel"][1]["form"], "COINS");
    assert!(refund["code"].as_str().is_some_and(|c| c.len() > 8), "{refund}");
    assert_eq!(
        refund["entitlement"],
        json!({"key_status": "NONE", "user_flags": ["REFUNDED"], "service_content": "NONE", "product_status": "UNSUBSCRIBED"})
    );

    let id = id_of(&refund);
    let issued = h.about("order-events", "refund.issued", &id).await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].message["id"], format!("{id}:refund.issued:requested"));
    assert_eq!(issued[0].message["data"]["channels"], refund["channel"]);
    let entitlement = h.about("order-events", "entitlement.updated", "d-1").await;
    assert_eq!(entitlement[0].message["data"]["entitlement"]["product_status"], "UNSUBSCRIBED");
    assert_eq!(entitlement[0].message["data"]["key_revoked"], true);

    // Idempotent on request_id; a new request finds the entitlement already unsubscribed.
    assert_eq!(h.post("/refunds", &refund_request("r-1", "d-1", "MEMBERSHIP")).await, (200, refund.clone()));
    let (status, err) = h.post("/refunds", &refund_request("r-1", "d-2", "MEMBERSHIP")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")));
    let (status, again) = h.post("/refunds", &refund_request("r-2", "d-1", "MEMBERSHIP")).await;
    assert_eq!((status, again["reasons"].clone()), (201, json!(["ENTITLEMENT_NOT_REFUNDABLE"])));
    assert_eq!(h.get(&format!("/refunds/{id}")).await, (200, refund));
    assert_eq!(h.about("order-events", "refund.issued", &id).await.len(), 1);
});

scenario!(album_refund_is_sent_to_the_seller_and_issued_when_approved, |h: Harness| async move {
    place(&h, &album(&h, "d-3")).await;
    let (status, refund) = h.post("/refunds", &refund_request("r-3", "d-3", "ALBUM")).await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("PENDING_REVIEW")), "{refund}");
    assert_eq!(
        (refund["reviewer_role"].as_str(), refund["reasons"].clone()),
        (Some("seller"), json!(["AMOUNT_ABOVE_AUTO_LIMIT"]))
    );
    let id = id_of(&refund);
    let path = format!("/refunds/{id}/review");
    let requested = h.about("order-events", "refund.review_requested", &id).await;
    assert_eq!(requested[0].attributes["reviewer_role"], "seller");

    let (status, err) = h.post(&path, &review("dec-1", "APPROVE", "platform")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")));
    let seller = review("dec-2", "APPROVE", "seller");
    let (status, approved) = h.post(&path, &seller).await;
    assert_eq!((status, approved["status"].as_str()), (200, Some("APPROVED")), "{approved}");
    assert_eq!(approved["amount"], "37.80");
    assert_eq!(
        lines(&approved),
        owned(&[
            ("base", "60.00"),
            ("residual_share", "-24.00"),
            ("tax", "1.80"),
            ("fee", "0.00"),
            ("rounding", "0.00")
        ])
    );
    assert_eq!(approved["breakdown"][1]["detail"], "12 of 20 episodes unreleased");
    assert_eq!(
        channels(&approved),
        [
            ("THIRD_PARTY".into(), "29.76".into(), "THIRD_PARTY".into()),
            ("VIRTUAL_COINS".into(), "8.04".into(), "PLATFORM_ACCOUNT".into())
        ]
    );
    assert_eq!(approved["entitlement"]["service_content"], "RELEASED_EPISODES_ONLY");

    assert_eq!(h.post(&path, &seller).await, (200, approved));
    let (status, replay) = h.post("/refunds", &refund_request("r-3", "d-3", "ALBUM")).await;
    assert_eq!((status, &replay), (200, &refund), "a retried request answers its first result");
    assert_eq!(h.post(&path, &review("dec-3", "REJECT", "seller")).await.0, 409);
    assert_eq!(
        h.about("order-events", "refund.issued", &id).await[0].message["id"],
        format!("{id}:refund.issued:decision:dec-2")
    );
    assert_eq!(h.about("order-events", "entitlement.updated", "d-3").await.len(), 1);

    // The order's timeline lists its refund with what was paid back.
    let (status, timeline) = h.get("/orders/d-3/timeline").await;
    assert_eq!(status, 200, "{timeline}");
    assert_eq!(
        timeline["refunds"],
        json!([{"refund_id": id, "status": "APPROVED", "amount": "37.80", "currency": "CNY",
                "requested_at": refund["requested_at"]}]),
        "{timeline}"
    );
});

scenario!(refund_is_refused_with_every_failed_condition, |h: Harness| async move {
    place(&h, &membership(&h, "d-4", 300)).await;
    let (status, refund) = h.post("/refunds", &refund_request("r-4", "d-4", "MEMBERSHIP")).await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("REJECTED")), "{refund}");
    assert_eq!(refund["reasons"], json!(["REFUND_WINDOW_EXPIRED", "CONSUMED_TOO_MUCH"]));
    assert!(refund.get("code").is_none() && refund.get("amount").is_none());
    let id = id_of(&refund);
    let rejected = h.about("order-events", "refund.rejected", &id).await;
    assert_eq!(rejected[0].message["data"]["reasons"], refund["reasons"]);
    let approve = review("dec-4", "APPROVE", "platform");
    assert_eq!(
        h.post(&format!("/refunds/{id}/review"), &approve).await.0,
        409,
        "a rejected refund is not pending review"
    );
    assert!(h.about("order-events", "refund.issued", &id).await.is_empty());
});

scenario!(lending_payment_goes_to_the_platform_and_a_rejection_is_published, |h: Harness| async move {
    let mut order = membership(&h, "d-5", 0);
    order["payment"]["method"] = json!("LENDING");
    order["payment"]["splits"] = json!([{"channel": "LENDING", "amount": "107.00"}]);
    place(&h, &order).await;
    let (status, refund) = h.post("/refunds", &refund_request("r-5", "d-5", "MEMBERSHIP")).await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("PENDING_REVIEW")), "{refund}");
    assert_eq!(
        (refund["reviewer_role"].as_str(), refund["reasons"].clone()),
        (Some("platform"), json!(["CHANNEL_LENDING"]))
    );
    assert_eq!(refund["amount"], "104.00", "107.00 less the 1.00 fee paid and the 2.00 LENDING handling fee");
    let want =
        [("base", "100.00"), ("residual_share", "0.00"), ("tax", "6.00"), ("fee", "-2.00"), ("rounding", "0.00")];
    assert_eq!(lines(&refund), owned(&want));
    let id = id_of(&refund);
    let (status, rejected) = h.post(&format!("/refunds/{id}/review"), &review("dec-5", "REJECT", "platform")).await;
    assert_eq!(
        (status, rejected["status"].as_str(), rejected["reasons"].clone()),
        (200, Some("REJECTED"), json!(["REVIEWER_REJECTED"]))
    );
    assert!(rejected.get("amount").is_none(), "a rejected refund pays nothing: {rejected}");
    assert_eq!(rejected["quoted"]["amount"], "104.00", "what the reviewer saw");
    assert_eq!(h.about("order-events", "refund.rejected", &id).await.len(), 1);
    assert!(h.about("order-events", "entitlement.updated", "d-5").await.is_empty());
});

scenario!(a_fully_refunded_order_cannot_be_refunded_again, |h: Harness| async move {
    let mut order = membership(&h, "d-6", 0);
    order["items"][0]["fee"] = json!("0.00");
    order["items"][0]["unit_price"] = json!("119.00");
    order["payment"]["splits"] = json!([{"channel": "PLATFORM_ACCOUNT", "amount": "105.00"}]);
    place(&h, &order).await;
    let (status, refund) = h.post("/refunds", &refund_request("r-6", "d-6", "MEMBERSHIP")).await;
    assert_eq!(
        (status, refund["amount"].as_str()),
        (201, Some("105.00")),
        "refunded at purchase time: everything paid"
    );
    let want = [("base", "99.00"), ("residual_share", "0.00"), ("tax", "6.00"), ("fee", "0.00"), ("rounding", "0.00")];
    assert_eq!(lines(&refund), owned(&want));
    assert_eq!(channels(&refund), [("PLATFORM_ACCOUNT".into(), "105.00".into(), "PLATFORM_ACCOUNT".into())]);
    let (status, err) = h.post("/refunds", &refund_request("r-7", "d-6", "MEMBERSHIP")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "{err}");
    assert_eq!(h.kinds("order-events").await.iter().filter(|k| k.starts_with("refund.")).count(), 1);
});

scenario!(bad_refund_requests_answer_4xx_and_change_nothing, |h: Harness| async move {
    place(&h, &membership(&h, "d-8", 10)).await;
    let (status, _) = h.post("/orders", &retail_order("o-8", "c-8", "10.00")).await;
    assert_eq!(status, 201);
    let before = h.kinds("order-events").await;
    let cases = [
        (refund_request("r-8", "nope", "MEMBERSHIP"), 404, None),
        (refund_request("r-8", "o-8", "MEMBERSHIP"), 422, Some("order_id")),
        (refund_request("r-8", "d-8", "BOOK"), 422, Some("scenario")),
        (refund_request("r-8", "d-8", "ALBUM"), 422, Some("scenario")),
        (json!({"request_id": "r-8", "order_id": "d-8"}), 422, Some("scenario")),
        (json!({"request_id": 8, "order_id": "d-8", "scenario": "MEMBERSHIP"}), 422, Some("request_id")),
    ];
    for (body, want, field) in cases {
        let (status, err) = h.post("/refunds", &body).await;
        assert_eq!((status, err["error"]["field"].as_str()), (want, field), "{body}: {err}");
    }
    let (status, err) = h.send("POST", "/refunds", b"{not json").await;
    assert_eq!((status, err["error"]["field"].as_str()), (400, Some("body")));
    assert_eq!(h.post("/refunds/rf-r-8/review", &review("dec-8", "MAYBE", "platform")).await.0, 422);
    assert_eq!(h.post("/refunds/rf-r-8/review", &review("dec-8", "APPROVE", "platform")).await.0, 404);
    assert_eq!(h.get("/refunds/rf-r-8").await.0, 404);
    let (status, err) = h.get(&format!("/refunds/{}", "x".repeat(70))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("refund_id")));
    assert_eq!(h.kinds("order-events").await, before);
});

scenario!(two_requests_pending_review_on_one_order_refund_it_once, |h: Harness| async move {
    place(&h, &album(&h, "d-9")).await;
    let mut ids = Vec::new();
    for request in ["r-9a", "r-9b"] {
        let (status, refund) = h.post("/refunds", &refund_request(request, "d-9", "ALBUM")).await;
        assert_eq!((status, refund["status"].as_str()), (201, Some("PENDING_REVIEW")), "{refund}");
        ids.push(id_of(&refund));
    }
    let approve = |decision: &str| review(decision, "APPROVE", "seller");
    let (status, first) = h.post(&format!("/refunds/{}/review", ids[0]), &approve("dec-9a")).await;
    assert_eq!((status, first["status"].as_str(), first["amount"].as_str()), (200, Some("APPROVED"), Some("37.80")));
    let (status, second) = h.post(&format!("/refunds/{}/review", ids[1]), &approve("dec-9b")).await;
    assert_eq!((status, second["status"].as_str()), (200, Some("REJECTED")), "{second}");
    assert_eq!(second["reasons"], json!(["ENTITLEMENT_NOT_REFUNDABLE"]));
    for money in ["amount", "currency", "breakdown", "channel", "code"] {
        assert!(second.get(money).is_none(), "a refund rejected at approval pays nothing: {second}");
    }
    assert_eq!(h.kinds("order-events").await.iter().filter(|k| *k == "refund.issued").count(), 1);
    assert_eq!(h.about("order-events", "refund.rejected", &ids[1]).await.len(), 1);
});

/// Embedded only: moto_server does not isolate concurrent TransactWriteItems calls (two
/// transactions conditioned on the same absent item can both commit, and a failed one
/// restores a stale copy of the table), which DynamoDB guarantees. The embedded store
/// keeps DynamoDB's all-or-nothing, serialised transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_one_order_refund_it_once() {
    let h = Harness::embedded().await;
    place(&h, &membership(&h, "d-10", 120)).await;
    let (first, second) =
        (refund_request("r-10a", "d-10", "MEMBERSHIP"), refund_request("r-10b", "d-10", "MEMBERSHIP"));
    let (a, b) = tokio::join!(h.post("/refunds", &first), h.post("/refunds", &second));
    let mut statuses = vec![a.1["status"].as_str().unwrap_or_default(), b.1["status"].as_str().unwrap_or_default()];
    statuses.sort();
    assert_eq!(statuses, ["APPROVED", "REJECTED"], "{a:?} {b:?}");
    assert_eq!(h.kinds("order-events").await.iter().filter(|k| *k == "refund.issued").count(), 1);
}

#[path = "refund_guards.rs"]
mod guards;
