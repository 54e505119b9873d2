//! The people's console: static pages (`console/` at the repository's root, compiled in)
//! served at `GET /console` and `GET /console/{file}` by the API's own function, so the
//! same files run behind API Gateway and the local runtime. The one answer built at run
//! time is `config.json`, which tells the page how to sign in: through the OIDC provider
//! the stack names (authorization code with PKCE, in `app.js`), or none configured.

use std::sync::OnceLock;

use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::api::json_response;
use super::http::ApiResponse;

/// The console's path prefix.
pub const PREFIX: &str = "/console";

/// The variables `config.json` is built from (set by `template.yaml`).
pub const ISSUER_ENV: &str = "CONSOLE_ISSUER";
pub const CLIENT_ID_ENV: &str = "CONSOLE_CLIENT_ID";
pub const SCOPES_ENV: &str = "CONSOLE_SCOPES";

/// A page: its file name under `/console/`, media type and text.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    text: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        media_type: "text/html; charset=utf-8",
        text: include_str!("../../../console/index.html"),
    },
    Asset {
        name: "app.js",
        media_type: "text/javascript; charset=utf-8",
        text: include_str!("../../../console/app.js"),
    },
    Asset {
        name: "style.css",
        media_type: "text/css; charset=utf-8",
        text: include_str!("../../../console/style.css"),
    },
];

/// Scripts and styles from this origin only; calls to this origin and, on AWS, to the
/// OIDC provider (discovery and the token endpoint).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self' https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `path` is the console's (`/console` or below it).
pub fn is_console(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// The console's file for `GET path`, `config.json` from the environment, or `None`
/// when the request is not a console `GET` (the API's routing then answers it).
pub fn answer(request: &Request) -> Option<Response<Body>> {
    let path = request.uri().path();
    if request.method().as_str() != "GET" || !is_console(path) {
        return None;
    }
    Some(file(path, deployed_config()))
}

/// `GET path` under `/console`, with `config` as `config.json`.
pub fn file(path: &str, config: &Value) -> Response<Body> {
    let name = path.strip_prefix(PREFIX).unwrap_or_default().trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    if name == "config.json" {
        let mut response = json_response(ApiResponse::new(200, config.clone()));
        response.headers_mut().insert(CACHE_CONTROL, lambda_http::http::HeaderValue::from_static("no-store"));
        return response;
    }
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => page(asset),
        None => json_response(ApiResponse::error(404, "not_found", &format!("no console file {name:?}"), None)),
    }
}

fn page(asset: &Asset) -> Response<Body> {
    Response::builder()
        .status(200)
        .header(CONTENT_TYPE, asset.media_type)
        // Revalidated on every load, so a new deployment shows at once.
        .header(CACHE_CONTROL, "no-cache")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .body(Body::Text(asset.text.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(asset.text.to_string())))
}

/// `config.json` on AWS, read once: OIDC sign-in when a client id is configured.
fn deployed_config() -> &'static Value {
    static CONFIG: OnceLock<Value> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let var = |name| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        oidc_config(var(ISSUER_ENV), var(CLIENT_ID_ENV), var(SCOPES_ENV))
    })
}

/// The sign-in a deployed console uses: `oidc` with the issuer, client and scopes, or
/// `none` (the page then says sign-in is not configured) when either is missing.
pub fn oidc_config(issuer: Option<String>, client_id: Option<String>, scopes: Option<String>) -> Value {
    match (issuer, client_id) {
        (Some(issuer), Some(client_id)) => json!({
            "sign_in": "oidc",
            "issuer": issuer.trim_end_matches('/'),
            "client_id": client_id,
            "scopes": scopes.unwrap_or_else(|| "openid".to_string()),
        }),
        _ => json!({"sign_in": "none"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(response: &Response<Body>) -> String {
        match response.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        }
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[test]
    fn console_root_is_the_page_and_files_have_their_media_types() {
        let index = file("/console", &json!({}));
        assert_eq!(index.status(), 200);
        assert!(header(&index, "content-type").starts_with("text/html"));
        assert!(text(&index).contains("<script src=\"/console/app.js\""), "the page loads its own script");
        assert!(header(&index, "content-security-policy").contains("script-src 'self'"));
        assert_eq!(file("/console/", &json!({})).status(), 200);
        assert!(header(&file("/console/app.js", &json!({})), "content-type").starts_with("text/javascript"));
        assert!(header(&file("/console/style.css", &json!({})), "content-type").starts_with("text/css"));
    }

    #[test]
    fn unknown_console_file_is_a_404_in_the_error_shape() {
        let missing = file("/console/../Cargo.toml", &json!({}));
        assert_eq!(missing.status(), 404);
        assert!(text(&missing).contains("\"not_found\""));
    }

    #[test]
    fn config_names_the_oidc_client_only_when_both_are_set() {
        let config = oidc_config(Some("https://idp.example/".into()), Some("client-1".into()), None);
        assert_eq!(
            config,
            json!({"sign_in": "oidc", "issuer": "https://idp.example", "client_id": "client-1", "scopes": "openid"})
        );
        assert_eq!(oidc_config(Some("https://idp.example".into()), None, None), json!({"sign_in": "none"}));
        let served = file("/console/config.json", &config);
        assert_eq!(header(&served, "cache-control"), "no-store");
        assert!(text(&served).contains("client-1"));
    }

    #[test]
    fn only_console_paths_are_the_consoles() {
        assert!(is_console("/console") && is_console("/console/app.js"));
        assert!(!is_console("/consoles") && !is_console("/orders"));
    }
}
