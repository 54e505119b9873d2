//! The `events/` fixtures (also used by `cargo lambda invoke --data-file`), for the
//! functions' handler tests. Test support: a missing or malformed fixture panics.

use std::path::PathBuf;

use serde::de::DeserializeOwned;

/// `events/<name>`, parsed as `T` (a `serde_json::Value`, an `SqsEvent`...).
pub fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An API Gateway v2 event as the request `lambda_http` hands a function.
#[cfg(feature = "api")]
pub fn request(event: &serde_json::Value) -> lambda_http::Request {
    lambda_http::request::from_str(&event.to_string()).expect("fixture is an API Gateway v2 event")
}

/// A function's JSON answer: status and body.
#[cfg(feature = "api")]
pub fn answer(response: lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let body = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).expect("the answer is JSON"),
        other => panic!("unexpected body {other:?}"),
    };
    (response.status().as_u16(), body)
}
