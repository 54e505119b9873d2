//! The handler on the embedded backend, fed the `events/` fixtures that
//! `cargo lambda invoke --data-file` uses. Orders are placed through the risk check.

use chrono::Duration;
use orderflow_shared::adapters::embedded::{fixtures, World};
use orderflow_shared::ports::Clock;
use serde_json::{json, Value};

use super::handle;

fn fixture(name: &str) -> Value {
    fixtures::load(name)
}

async fn invoke(w: &World, event: &Value) -> (u16, Value) {
    let request = fixtures::request(event);
    let response = if request.uri().path().starts_with("/orders") {
        risk_check::handle(&w.deps, request).await
    } else {
        handle(&w.deps, request).await
    };
    fixtures::answer(response)
}

fn with_body(mut event: Value, body: Value) -> Value {
    event["body"] = json!(body.to_string());
    event
}

/// `event` as sent with the token of the `role` reviewer `id` (the JWT authorizer's claims).
fn by_reviewer(mut event: Value, role: &str, id: &str) -> Value {
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["sub"] = json!(id);
    claims["reviewer_role"] = json!(role);
    // A seller reviewer reviews its seller's products: the album's seller is `s-9`'s.
    claims["seller_id"] = json!("seller-9");
    event
}

/// A fixture about refund `rf-r-1` made about `refund`'s id: refund ids are random.
fn about(event: Value, refund: &Value) -> Value {
    let id = refund["refund_id"].as_str().unwrap();
    serde_json::from_str(&event.to_string().replace("rf-r-1", id)).unwrap()
}

/// The fixture's digital order, as an album paid three days before the world's clock.
fn recent_album(w: &World) -> Value {
    let mut order: Value =
        serde_json::from_str(fixture("api-post-order-digital.json")["body"].as_str().unwrap()).unwrap();
    let paid_at = (w.clock.now() - Duration::days(3)).to_rfc3339();
    order["product"] = json!({"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5,
                              "seller_id": "seller-9"});
    order["payment"]["paid_at"] = json!(paid_at);
    with_body(fixture("api-post-order-digital.json"), order)
}

#[tokio::test]
async fn fixture_membership_bought_last_january_is_refused_with_every_reason() {
    let w = World::new();
    let (status, body) = invoke(&w, &fixture("api-post-order-digital.json")).await;
    assert_eq!(status, 201, "{body}");
    let (status, refund) = invoke(&w, &fixture("api-post-refund.json")).await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(refund["status"], "REJECTED");
    assert_eq!(refund["reasons"], json!(["REFUND_WINDOW_EXPIRED", "CONSUMED_TOO_MUCH"]));
    assert!(w.kinds("order-events").await.contains(&"refund.rejected".to_string()));
    assert!(!refund["refund_id"].as_str().unwrap().contains("r-1"), "not derived from the request id: {refund}");
    let (status, shown) = invoke(&w, &about(fixture("api-get-refund.json"), &refund)).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("REJECTED")));
    // The same request again answers the first result and publishes nothing more.
    let published = w.kinds("order-events").await.len();
    let (status, again) = invoke(&w, &fixture("api-post-refund.json")).await;
    assert_eq!((status, again), (200, refund));
    assert_eq!(w.kinds("order-events").await.len(), published);
}

#[tokio::test]
async fn album_refund_waits_for_the_seller_then_is_issued_on_approval() {
    let w = World::new();
    invoke(&w, &recent_album(&w)).await;
    let request = json!({"request_id": "r-1", "order_id": "d-2001", "scenario": "ALBUM"});
    let (status, refund) = invoke(&w, &with_body(fixture("api-post-refund.json"), request)).await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("PENDING_REVIEW")), "{refund}");
    assert_eq!(refund["reviewer_role"], "seller");
    let review =
        w.published("order-events").await.into_iter().find(|m| m.attributes["type"] == "refund.review_requested");
    assert_eq!(review.unwrap().attributes["reviewer_role"], "seller");

    let (status, err) = invoke(&w, &about(fixture("api-post-refund-review.json"), &refund)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "a platform reviewer may not decide");
    // A platform token whose body claims to be the seller is refused all the same.
    let claiming = json!({"decision_id": "dec-1", "decision": "APPROVE", "reviewer": {"role": "seller", "id": "s-9"}});
    let (status, _) = invoke(&w, &with_body(about(fixture("api-post-refund-review.json"), &refund), claiming)).await;
    assert_eq!(status, 403, "the body names a reviewer the token is not");
    let seller = json!({"decision_id": "dec-1", "decision": "APPROVE"});
    let as_seller = |body: Value| {
        by_reviewer(with_body(about(fixture("api-post-refund-review.json"), &refund), body), "seller", "s-9")
    };
    let (status, approved) = invoke(&w, &as_seller(seller.clone())).await;
    assert_eq!((status, approved["status"].as_str()), (200, Some("APPROVED")), "{approved}");
    assert_eq!(approved["amount"], "63.60");
    assert!(approved["code"].as_str().is_some_and(|c| c.starts_with("RFC-")));
    assert_eq!(approved["entitlement"]["product_status"], "UNSUBSCRIBED");
    let (status, again) = invoke(&w, &as_seller(seller.clone())).await;
    assert_eq!((status, again), (200, approved));
    let mut other = seller;
    other["decision_id"] = json!("dec-2");
    let (status, _) = invoke(&w, &as_seller(other)).await;
    assert_eq!(status, 409);
    let kinds = w.kinds("order-events").await;
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("refund.") || k.starts_with("entitlement.")).count(),
        3,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn refund_of_an_unknown_order_or_with_a_bad_body_changes_nothing() {
    let w = World::new();
    let (status, err) = invoke(&w, &fixture("api-post-refund.json")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")));
    let bad = json!({"request_id": "r-1", "order_id": "d-2001", "scenario": "BOOK"});
    let (status, err) = invoke(&w, &with_body(fixture("api-post-refund.json"), bad)).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("scenario")));
    let (status, _) = invoke(&w, &fixture("api-get-refund.json")).await;
    assert_eq!(status, 404);
    assert!(w.kinds("order-events").await.is_empty());
}

#[tokio::test]
async fn a_seller_reviewer_reads_its_own_sellers_refunds_only() {
    let w = World::new();
    invoke(&w, &recent_album(&w)).await;
    let request = json!({"request_id": "r-1", "order_id": "d-2001", "scenario": "ALBUM"});
    let (_, refund) = invoke(&w, &with_body(fixture("api-post-refund.json"), request)).await;
    let get = about(fixture("api-get-refund.json"), &refund);
    let (status, read) = invoke(&w, &by_reviewer(get.clone(), "seller", "s-9")).await;
    assert_eq!((status, &read["refund_id"]), (200, &refund["refund_id"]), "{read}");
    let mut another = by_reviewer(get.clone(), "seller", "s-7");
    another["requestContext"]["authorizer"]["jwt"]["claims"]["seller_id"] = json!("seller-7");
    let (status, err) = invoke(&w, &another).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("may not read seller seller-9's refund"), "{err}");
    let (status, _) = invoke(&w, &by_reviewer(get, "platform", "p-1")).await;
    assert_eq!(status, 200, "a platform reviewer reads any refund");

    // An album no seller sells: its refund is the platform's, and no seller's reviewer reads it.
    let mut order: Value = serde_json::from_str(recent_album(&w)["body"].as_str().unwrap()).unwrap();
    order["order_id"] = json!("d-2002");
    order["product"].as_object_mut().unwrap().remove("seller_id");
    invoke(&w, &with_body(fixture("api-post-order-digital.json"), order)).await;
    let request = json!({"request_id": "r-2", "order_id": "d-2002", "scenario": "ALBUM"});
    let (status, platform) = invoke(&w, &with_body(fixture("api-post-refund.json"), request)).await;
    assert_eq!(status, 201, "{platform}");
    let get = about(fixture("api-get-refund.json"), &platform);
    let (status, err) = invoke(&w, &by_reviewer(get.clone(), "seller", "s-9")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    let (status, _) = invoke(&w, &by_reviewer(get, "platform", "p-1")).await;
    assert_eq!(status, 200);
}
