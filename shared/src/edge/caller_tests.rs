use lambda_http::{Request, RequestExt};
use serde_json::{json, Map, Value};

use super::*;

fn request_with(claims: Value, scopes: &[&str]) -> Request {
    let claims: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    Request::default().with_request_context(jwt_context(&claims, &scopes))
}

#[test]
fn a_request_without_an_authorizer_context_is_unauthorized() {
    assert!(matches!(Caller::of(&Request::default()), Err(Error::Unauthorized(_))));
}

#[test]
fn claims_and_scopes_make_the_identity() {
    let request = request_with(json!({"sub": "u-1", "customer_id": "c-1", "exp": 123}), &["orders.read"]);
    let caller = Caller::of(&request).unwrap();
    assert!(caller.has("orders.read") && !caller.has("orders.write"));
    assert!(caller.require_any(&["orders.write", "orders.read"]).is_ok());
    assert!(matches!(caller.require_any(&["orders.write"]), Err(Error::Forbidden(_))));
    assert!(caller.may_act_for("c-1").is_ok());
    assert!(matches!(caller.may_act_for("c-2"), Err(Error::Forbidden(_))));
    assert!(matches!(caller.may_report_as("carrier"), Err(Error::Forbidden(_))));
    assert!(matches!(caller.reviewer(), Err(Error::Forbidden(_))));
}

#[test]
fn scopes_come_from_the_scope_claim_when_the_authorizer_lists_none() {
    let request = request_with(json!({"sub": "svc", "scope": "fulfilment.report ops.read", "system": "carrier"}), &[]);
    let caller = Caller::of(&request).unwrap();
    assert!(caller.has("fulfilment.report") && caller.has("ops.read"));
    // A service token (no customer) acts for anyone; it reports only as its system.
    assert!(caller.may_act_for("c-9").is_ok());
    assert!(caller.may_report_as("carrier").is_ok());
    assert!(matches!(caller.may_report_as("warehouse"), Err(Error::Forbidden(_))));
}

#[test]
fn a_reviewer_is_its_role_claim_and_its_subject() {
    let request = request_with(json!({"sub": "rev-7", "reviewer_role": "seller"}), &["refunds.review"]);
    assert_eq!(Caller::of(&request).unwrap().reviewer().unwrap(), Some(("seller".into(), "rev-7".into())));
}

#[test]
fn a_token_without_a_subject_is_unauthorized() {
    assert!(matches!(Caller::of(&request_with(json!({}), &["orders.read"])), Err(Error::Unauthorized(_))));
}

#[test]
fn with_auth_off_the_caller_may_do_anything() {
    let mut request = Request::default();
    request.extensions_mut().insert(AuthOff);
    let caller = Caller::of(&request).unwrap();
    assert_eq!(caller, Caller::Unrestricted);
    assert!(caller.require_any(&["refunds.review"]).is_ok() && caller.may_report_as("carrier").is_ok());
    assert_eq!(caller.reviewer().unwrap(), None);
}
