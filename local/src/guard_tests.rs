use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, ORIGIN};
use hyper::HeaderMap;

use super::*;

fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    map
}

/// The status, code and field of a refusal; `None` when the request passes.
fn refusal(pairs: &[(HeaderName, &str)], body_len: usize) -> Option<(u16, String, String)> {
    let err = check(&headers(pairs), body_len).err()?;
    let error = &err.body["error"];
    let text = |key: &str| error[key].as_str().unwrap_or_default().to_string();
    Some((err.status, text("code"), text("field")))
}

fn forbidden_at(field: &str) -> Option<(u16, String, String)> {
    Some((403, "forbidden".into(), field.into()))
}

fn unsupported() -> Option<(u16, String, String)> {
    Some((415, "validation_failed".into(), "content-type".into()))
}

#[test]
fn loopback_hosts_with_or_without_a_port_are_answered() {
    for host in [
        "localhost",
        "localhost:3000",
        "LocalHost:3000",
        "127.0.0.1",
        "127.0.0.1:3000",
        "127.1.2.3:8080",
        "[::1]",
        "[::1]:3000",
    ] {
        assert_eq!(refusal(&[(HOST, host)], 0), None, "{host}");
    }
}

#[test]
fn a_rebinding_or_foreign_host_is_refused() {
    for host in [
        "evil.example",
        "evil.example:3000",
        "127.0.0.1.evil.com",
        "localhost.evil.com",
        "localhost.",
        "app.localhost",
        "10.0.0.1",
        "0.0.0.0:3000",
        "128.0.0.1",
        "127.1",
        "2130706433",
        "::1",
        "[::2]:3000",
        "[::ffff:127.0.0.1]",
        "[::1]3000",
        "[::1",
        "localhost:",
        "localhost:+80",
        "localhost:99999",
        "localhost:3000:1",
        "",
    ] {
        assert_eq!(refusal(&[(HOST, host)], 0), forbidden_at("host"), "{host:?}");
    }
}

#[test]
fn a_missing_or_repeated_host_is_refused() {
    assert_eq!(refusal(&[], 0), forbidden_at("host"));
    assert_eq!(refusal(&[(HOST, "127.0.0.1"), (HOST, "evil.example")], 0), forbidden_at("host"));
}

#[test]
fn no_origin_or_a_loopback_origin_is_answered() {
    assert_eq!(refusal(&[(HOST, "127.0.0.1:3000")], 0), None);
    for origin in [
        "http://localhost:3000",
        "http://localhost",
        "http://127.0.0.1:3000",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
        "https://localhost:8443",
        "HTTP://LOCALHOST:3000",
    ] {
        assert_eq!(refusal(&[(HOST, "127.0.0.1:3000"), (ORIGIN, origin)], 0), None, "{origin}");
    }
}

#[test]
fn a_foreign_or_opaque_origin_is_refused() {
    for origin in [
        "http://evil.example",
        "https://evil.example:3000",
        "http://127.0.0.1.evil.com",
        "http://localhost.evil.com:3000",
        "null",
        "file://",
        "ftp://localhost",
        "localhost:3000",
        "http://localhost:3000/",
        "http://user@localhost:3000",
        "",
    ] {
        let pairs = [(HOST, "127.0.0.1:3000"), (ORIGIN, origin)];
        assert_eq!(refusal(&pairs, 0), forbidden_at("origin"), "{origin:?}");
    }
    let twice = [(HOST, "127.0.0.1:3000"), (ORIGIN, "http://localhost:3000"), (ORIGIN, "http://evil.example")];
    assert_eq!(refusal(&twice, 0), forbidden_at("origin"));
}

#[test]
fn a_body_must_be_json() {
    let host = (HOST, "127.0.0.1:3000");
    for ok in
        ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", " Application/Json ;charset=UTF-8"]
    {
        assert_eq!(refusal(&[host.clone(), (CONTENT_TYPE, ok)], 2), None, "{ok}");
    }
    for refused in [
        "text/plain",
        "text/plain; charset=utf-8",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "application/json-seq",
        "text/json",
        "",
    ] {
        assert_eq!(refusal(&[host.clone(), (CONTENT_TYPE, refused)], 2), unsupported(), "{refused:?}");
    }
    assert_eq!(refusal(std::slice::from_ref(&host), 2), unsupported());
    let twice = [host, (CONTENT_TYPE, "application/json"), (CONTENT_TYPE, "text/plain")];
    assert_eq!(refusal(&twice, 2), unsupported());
}

#[test]
fn a_request_without_a_body_needs_no_content_type() {
    assert_eq!(refusal(&[(HOST, "localhost:3000")], 0), None);
    assert_eq!(refusal(&[(HOST, "localhost:3000"), (CONTENT_TYPE, "text/plain")], 0), None);
}

#[test]
fn the_host_is_checked_before_the_body() {
    let pairs = [(HOST, "evil.example"), (CONTENT_TYPE, "text/plain")];
    assert_eq!(refusal(&pairs, 2), forbidden_at("host"));
    let pairs = [(HOST, "localhost"), (ORIGIN, "http://evil.example"), (CONTENT_TYPE, "text/plain")];
    assert_eq!(refusal(&pairs, 2), forbidden_at("origin"));
}

#[test]
fn a_refusal_says_what_to_do_in_the_error_shape() {
    let err = check(&headers(&[(HOST, "evil.example")]), 0).unwrap_err();
    let message = err.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("evil.example") && message.contains("localhost"), "{message}");
    let err = check(&headers(&[(HOST, "localhost"), (CONTENT_TYPE, "text/plain")]), 1).unwrap_err();
    let message = err.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("application/json") && message.contains("text/plain"), "{message}");
}
