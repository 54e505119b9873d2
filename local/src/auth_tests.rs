use chrono::{Duration, Utc};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use super::*;

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn signed(keys: &Keys, claims: Value) -> String {
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&keys.secret)).unwrap()
}

fn good_claims() -> Value {
    let now = Utc::now().timestamp();
    json!({"sub": "u-1", "iss": ISSUER, "aud": AUDIENCE, "nbf": now - 10, "exp": now + 600, "scope": "orders.read"})
}

#[test]
fn an_issued_token_verifies_with_its_claims_and_scopes() {
    let keys = Keys::random();
    let mut claims = Map::new();
    claims.insert("customer_id".into(), json!("c-1"));
    let token =
        keys.issue("u-1", &scopes(&["orders.read", "ops.read"]), &claims, Utc::now(), Duration::hours(1)).unwrap();
    let verified = keys.verify(&token).unwrap();
    assert_eq!(verified.scopes, scopes(&["orders.read", "ops.read"]));
    assert_eq!(verified.claims["customer_id"], "c-1");
    assert_eq!(verified.claims["sub"], "u-1");
}

#[test]
fn bad_tokens_are_refused() {
    let keys = Keys::random();
    assert!(keys.verify(&signed(&keys, good_claims())).is_ok());
    let with = |name: &str, value: Value| {
        let mut claims = good_claims();
        claims[name] = value;
        signed(&keys, claims)
    };
    let now = Utc::now().timestamp();
    let expired = with("exp", json!(now - 3600));
    let early = with("nbf", json!(now + 3600));
    let issuer = with("iss", json!("someone-else"));
    let audience = with("aud", json!("another-api"));
    let other_key = signed(&Keys::random(), good_claims());
    let good = signed(&keys, good_claims());
    // The payload swapped for one granting more, the signature kept.
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut more = good_claims();
    more["scope"] = json!("orders.read refunds.review");
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(more.to_string());
    let tampered = parts.join(".");
    // `alg: none`, no signature.
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{header}.{}.", parts[1]);
    let oversized = with("pad", json!("x".repeat(MAX_TOKEN_BYTES)));
    let no_subject = {
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove("sub");
        signed(&keys, claims)
    };
    for (what, token) in [
        ("expired", expired),
        ("not yet valid", early),
        ("wrong issuer", issuer),
        ("wrong audience", audience),
        ("another key", other_key),
        ("tampered", tampered),
        ("unsigned", unsigned),
        ("oversized", oversized),
        ("no subject", no_subject),
        ("not a token", "abc".into()),
    ] {
        assert!(keys.verify(&token).is_err(), "{what} was accepted");
    }
}

#[test]
fn the_key_is_kept_in_the_data_directory() {
    let dir = std::env::temp_dir().join(format!("orderflow-key-{}", uuid::Uuid::new_v4().simple()));
    let first = Keys::in_dir(&dir).unwrap();
    let token = first.issue("u", &[], &Map::new(), Utc::now(), Duration::minutes(5)).unwrap();
    assert!(Keys::in_dir(&dir).unwrap().verify(&token).is_ok(), "a second open reads the same key");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_bearer_headers_carry_a_token() {
    assert_eq!(bearer("Bearer abc"), Some("abc"));
    assert_eq!(bearer("bearer  abc "), Some("abc"));
    assert_eq!(bearer("Basic abc"), None);
    assert_eq!(bearer("Bearer "), None);
}
