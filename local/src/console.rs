//! The console's local sign-in. The pages themselves are the API function's
//! (`orderflow_shared::edge::console`); locally `config.json` says how to sign in here
//! instead (`local`: this runtime's own tokens, `off`: `serve --auth off`), and
//! `POST /_local/console/sign-in` issues a token for the identity the sign-in form
//! chose, as `orderflow-local token` would. It is a `/_local` route: it answers only
//! callers the [guard](crate::guard) lets through (this machine's, not a web page's).

use chrono::{Duration, Utc};
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::input::parse_body;
use orderflow_shared::topology::scope;
use orderflow_shared::Error;
use serde_json::{json, Map, Value};

use crate::auth::Auth;

/// The claims the runtime sets itself; a sign-in may not choose them.
const REGISTERED: [&str; 7] = ["sub", "iss", "aud", "exp", "nbf", "iat", "scope"];
/// The longest sign-in, and the default.
const MAX_MINUTES: u32 = 720;
const DEFAULT_MINUTES: u32 = 60;
/// Room for a name or a claim's value; the whole token must stay under 8 KiB.
const MAX_TEXT: usize = 128;
const MAX_CLAIMS: usize = 16;

/// `config.json` of the local console.
pub fn config(auth: &Auth) -> Value {
    match auth {
        Auth::Off => json!({"sign_in": "off"}),
        Auth::Tokens(_) => json!({"sign_in": "local", "scopes": scope::ALL}),
    }
}

/// `POST /_local/console/sign-in {sub, scopes, claims, minutes}`: a token of this
/// runtime for that identity, `{token, sub, scopes, expires_at}`.
pub fn sign_in(auth: &Auth, body: &[u8]) -> Result<ApiResponse, Error> {
    let Auth::Tokens(keys) = auth else {
        return Err(Error::Conflict("tokens are off (serve --auth off): the console needs no sign-in".into()));
    };
    let request = SignIn::parse(&parse_body(body)?)?;
    let (now, ttl) = (Utc::now(), Duration::minutes(i64::from(request.minutes)));
    let token = keys.issue(&request.sub, &request.scopes, &request.claims, now, ttl).map_err(Error::Queue)?;
    let expires = now + ttl;
    Ok(ApiResponse::new(
        200,
        json!({"token": token, "sub": request.sub, "scopes": request.scopes, "claims": request.claims, "expires_at": expires}),
    ))
}

/// A sign-in request, checked.
struct SignIn {
    sub: String,
    scopes: Vec<String>,
    claims: Map<String, Value>,
    minutes: u32,
}

impl SignIn {
    fn parse(value: &Value) -> Result<SignIn, Error> {
        let object = value.as_object().ok_or_else(|| Error::malformed("body", "must be a JSON object"))?;
        if let Some(name) = object.keys().find(|k| !["sub", "scopes", "claims", "minutes"].contains(&k.as_str())) {
            return Err(Error::validation(name.as_str(), "is not a field of this request"));
        }
        let sub = text(object.get("sub"), "sub")?.ok_or_else(|| Error::validation("sub", "is required"))?;
        let scopes = scopes(object.get("scopes"))?;
        let claims = claims(object.get("claims"))?;
        let minutes = match object.get("minutes") {
            None | Some(Value::Null) => DEFAULT_MINUTES,
            Some(v) => {
                v.as_u64().and_then(|m| u32::try_from(m).ok()).filter(|m| (1..=MAX_MINUTES).contains(m)).ok_or_else(
                    || Error::validation("minutes", format!("must be a whole number from 1 to {MAX_MINUTES}")),
                )?
            }
        };
        Ok(SignIn { sub, scopes, claims, minutes })
    }
}

/// A non-empty string of at most [`MAX_TEXT`] characters, or absent.
fn text(value: Option<&Value>, field: &str) -> Result<Option<String>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_TEXT => {
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => {
            Err(Error::validation(field, format!("must be a non-empty string of at most {MAX_TEXT} characters")))
        }
    }
}

/// Scope names of the API (`all` for every one); none is allowed (a token without scopes).
fn scopes(value: Option<&Value>) -> Result<Vec<String>, Error> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Error::validation("scopes", "must be an array of scope names")),
    };
    let mut scopes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("scopes[{i}]");
        let name = item.as_str().ok_or_else(|| Error::validation(&field, "must be a string"))?;
        if name == "all" {
            return Ok(scope::ALL.iter().map(|s| s.to_string()).collect());
        }
        if !scope::ALL.contains(&name) {
            return Err(Error::validation(&field, format!("is not one of {} (or all)", scope::ALL.join(", "))));
        }
        if !scopes.iter().any(|s| s == name) {
            scopes.push(name.to_string());
        }
    }
    Ok(scopes)
}

/// Further claims, `name: "value"` (`reviewer_role`, `seller_id`, `team`, ...); empty
/// values are left out, so a form's blank fields add nothing.
fn claims(value: Option<&Value>) -> Result<Map<String, Value>, Error> {
    let object = match value {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(object)) if object.len() <= MAX_CLAIMS => object,
        Some(_) => {
            return Err(Error::validation("claims", format!("must be an object of at most {MAX_CLAIMS} claims")))
        }
    };
    let mut claims = Map::new();
    for (name, value) in object {
        let field = format!("claims.{name}");
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name || REGISTERED.contains(&name.as_str()) {
            return Err(Error::validation(&field, "is not a claim a sign-in may set"));
        }
        match value {
            Value::String(s) if s.trim().is_empty() => {}
            Value::String(s) if s.chars().count() <= MAX_TEXT => {
                claims.insert(name.clone(), Value::String(s.trim().to_string()));
            }
            _ => return Err(Error::validation(&field, format!("must be a string of at most {MAX_TEXT} characters"))),
        }
    }
    Ok(claims)
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
