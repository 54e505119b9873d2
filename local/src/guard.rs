//! Who may talk to the local runtime. It listens on 127.0.0.1 only, but a web page open
//! in the developer's browser can still reach it: by a cross-site request (a form or a
//! `fetch` posting to `http://127.0.0.1:3000`), or by DNS rebinding (a name of the
//! attacker's that resolves to 127.0.0.1, so the page is "same origin" with it). Either
//! could place orders or forge `audit.passed` through `/_local/topics/...`. So a request
//! is answered only when:
//!
//! - its `Host` is a loopback name or address (a rebinding page sends its own name);
//! - it has no `Origin` (curl, scripts, tests) or a loopback one (a local page);
//! - a body, if any, is `application/json`, which a page can only send after a CORS
//!   preflight that this runtime never grants; the types a plain form or `fetch` may
//!   send cross-site (`text/plain`, `multipart/form-data`, urlencoded) are refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use hyper::header::{HeaderName, CONTENT_TYPE, HOST, ORIGIN};
use hyper::HeaderMap;
use orderflow_shared::edge::http::ApiResponse;

/// Checks the headers that say who sent the request; done before the body is read.
pub fn check_caller(headers: &HeaderMap) -> Result<(), ApiResponse> {
    let host = only(headers, &HOST).ok_or_else(|| forbidden("host", "a single Host header is required"))?;
    if !is_loopback_authority(host) {
        return Err(forbidden(
            "host",
            &format!(
                "Host {host:?} is not a loopback name; the local runtime answers localhost, 127.x.y.z and [::1] only"
            ),
        ));
    }
    if headers.get_all(ORIGIN).iter().next().is_none() {
        return Ok(());
    }
    match only(headers, &ORIGIN) {
        Some(origin) if is_loopback_origin(origin) => Ok(()),
        origin => Err(forbidden(
            "origin",
            &format!(
                "requests from origin {:?} are refused; only pages served from localhost, 127.x.y.z or [::1] may call the local runtime",
                origin.unwrap_or("(repeated or unreadable)")
            ),
        )),
    }
}

/// Checks that a body, if there is one, is JSON.
pub fn check_body(headers: &HeaderMap, body_len: usize) -> Result<(), ApiResponse> {
    if body_len == 0 {
        return Ok(());
    }
    match only(headers, &CONTENT_TYPE) {
        Some(value) if is_json(value) => Ok(()),
        Some(value) => Err(unsupported(&format!("a body must be sent as application/json, not {value:?}"))),
        None => Err(unsupported("a body must be sent with content-type: application/json")),
    }
}

/// Both checks, for a request whose body is `body_len` bytes long.
pub fn check(headers: &HeaderMap, body_len: usize) -> Result<(), ApiResponse> {
    check_caller(headers)?;
    check_body(headers, body_len)
}

/// The header's value when it is present exactly once and is visible ASCII.
fn only<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

fn forbidden(field: &str, message: &str) -> ApiResponse {
    ApiResponse::error(403, "forbidden", message, Some(field))
}

fn unsupported(message: &str) -> ApiResponse {
    ApiResponse::error(415, "validation_failed", message, Some("content-type"))
}

/// `application/json`, any case, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default();
    media_type.trim().eq_ignore_ascii_case("application/json")
}

/// `http://` or `https://` and a loopback authority, with nothing after it. `null`
/// (sandboxed frames, `file:` pages) names no origin and is refused.
fn is_loopback_origin(origin: &str) -> bool {
    let lower = origin.to_ascii_lowercase();
    let authority = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
    authority.is_some_and(is_loopback_authority)
}

/// `host[:port]` where host is `localhost`, an IPv4 address in 127.0.0.0/8 or `[::1]`.
fn is_loopback_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let Some((v6, after)) = rest.split_once(']') else { return false };
            if !after.is_empty() && !after.starts_with(':') {
                return false;
            }
            (Host::V6(v6), after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((name, port)) => (Host::Name(name), Some(port)),
            None => (Host::Name(authority), None),
        },
    };
    // `+80` parses as a u16; a port is digits only.
    let port_ok = port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok());
    port_ok
        && match host {
            Host::V6(text) => text.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()),
            Host::Name(name) => {
                name.eq_ignore_ascii_case("localhost") || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
            }
        }
}

enum Host<'a> {
    V6(&'a str),
    Name(&'a str),
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
