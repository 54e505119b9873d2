use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::auth::Keys;

fn signed_in(auth: &Auth, body: Value) -> (u16, Value) {
    match sign_in(auth, body.to_string().as_bytes()) {
        Ok(answer) => (answer.status, answer.body),
        Err(e) => {
            let answer = ApiResponse::from(&e);
            (answer.status, answer.body)
        }
    }
}

#[test]
fn a_sign_in_gets_a_token_the_runtime_accepts_with_the_chosen_identity() {
    let keys = Arc::new(Keys::random());
    let auth = Auth::Tokens(keys.clone());
    let body = json!({"sub": "dock-1", "scopes": ["exceptions.handle", "orders.read"],
                      "claims": {"team": "inventory", "seller_id": ""}, "minutes": 5});
    let (status, answer) = signed_in(&auth, body);
    assert_eq!(status, 200, "{answer}");
    let verified = keys.verify(answer["token"].as_str().unwrap_or_default()).unwrap();
    assert_eq!(verified.scopes, ["exceptions.handle", "orders.read"]);
    assert_eq!(verified.claims["sub"], "dock-1");
    assert_eq!(verified.claims["team"], "inventory");
    assert!(!verified.claims.contains_key("seller_id"), "a blank claim adds nothing");
    assert!(answer["expires_at"].is_string());
    assert_eq!(config(&auth)["sign_in"], "local");
}

#[test]
fn all_grants_every_scope() {
    let (status, answer) = signed_in(&Auth::Tokens(Arc::new(Keys::random())), json!({"sub": "a", "scopes": ["all"]}));
    assert_eq!((status, answer["scopes"].as_array().map(Vec::len)), (200, Some(scope::ALL.len())));
}

#[test]
fn bad_sign_ins_are_refused_naming_the_field() {
    let auth = Auth::Tokens(Arc::new(Keys::random()));
    for (body, field) in [
        (json!({"scopes": []}), "sub"),
        (json!({"sub": ""}), "sub"),
        (json!({"sub": "a", "scopes": ["root"]}), "scopes[0]"),
        (json!({"sub": "a", "scopes": "all"}), "scopes"),
        (json!({"sub": "a", "claims": {"exp": "1"}}), "claims.exp"),
        (json!({"sub": "a", "claims": {"team": 7}}), "claims.team"),
        (json!({"sub": "a", "minutes": 0}), "minutes"),
        (json!({"sub": "a", "minutes": 10_000}), "minutes"),
        (json!({"sub": "a", "admin": true}), "admin"),
    ] {
        let (status, answer) = signed_in(&auth, body.clone());
        assert_eq!((status, answer["error"]["field"].as_str()), (422, Some(field)), "{body}: {answer}");
    }
    let (status, answer) = signed_in(&auth, json!([1]));
    assert_eq!(status, 400, "{answer}");
}

#[test]
fn with_tokens_off_there_is_nothing_to_sign_in_to() {
    let (status, answer) = signed_in(&Auth::Off, json!({"sub": "a"}));
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("conflict")));
    assert_eq!(config(&Auth::Off), json!({"sign_in": "off"}));
}
