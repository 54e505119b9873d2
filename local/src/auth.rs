//! The local runtime's authorizer, standing in for API Gateway's JWT authorizer: bearer
//! tokens (JWT, HS256) signed with a key kept in the data directory (`token.key`),
//! checked as API Gateway checks them (signature, issuer, audience, expiry and
//! not-before, size), and turned into the same request context (claims and scopes) the
//! handlers read on AWS ([`orderflow_shared::edge::caller`]).
//!
//! HS256 with a local secret because nothing leaves the machine: on AWS the tokens come
//! from the OIDC provider the template names, signed with its keys.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Map, Value};

/// The `iss` of the tokens this runtime issues and accepts.
pub const ISSUER: &str = "orderflow-local";
/// The `aud` of the tokens this runtime issues and accepts.
pub const AUDIENCE: &str = "orderflow";
/// The key's file in the data directory.
pub const KEY_FILE: &str = "token.key";
/// The longest token accepted (API Gateway refuses headers past 10 KB in all).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How the runtime treats credentials.
#[derive(Clone, Default)]
pub enum Auth {
    /// Every request may do anything (`serve --auth off`; the in-process tests and
    /// tools unless they ask for tokens).
    #[default]
    Off,
    /// A route that needs credentials needs a bearer token signed with this key.
    Tokens(Arc<Keys>),
}

/// The signing key.
pub struct Keys {
    secret: Vec<u8>,
}

/// A token's claims and scopes, once verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub claims: Map<String, Value>,
    pub scopes: Vec<String>,
}

impl Keys {
    /// The key in `dir`, created (32 random bytes, hex, readable by the owner only) if
    /// absent.
    pub fn in_dir(dir: &Path) -> Result<Keys, String> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let secret = text.trim().as_bytes().to_vec();
                if secret.len() < 32 {
                    return Err(format!(
                        "{} is not a token key (too short); delete it to make a new one",
                        path.display()
                    ));
                }
                Ok(Keys { secret })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let keys = Keys::random();
                write_private(&path, &keys.secret)?;
                Ok(keys)
            }
            Err(e) => Err(format!("cannot read the token key {}: {e}", path.display())),
        }
    }

    /// A key for this process only (an in-memory runtime).
    pub fn random() -> Keys {
        let hex: String = (0..2).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
        Keys { secret: hex.into_bytes() }
    }

    /// A token for `subject` with `scopes` and further `claims`, valid from `now` for
    /// `ttl`.
    pub fn issue(
        &self,
        subject: &str,
        scopes: &[String],
        claims: &Map<String, Value>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, String> {
        let mut body = claims.clone();
        let issued = now.timestamp();
        body.insert("sub".into(), json!(subject));
        body.insert("iss".into(), json!(ISSUER));
        body.insert("aud".into(), json!(AUDIENCE));
        body.insert("iat".into(), json!(issued));
        body.insert("nbf".into(), json!(issued));
        body.insert("exp".into(), json!((now + ttl).timestamp()));
        body.insert("scope".into(), json!(scopes.join(" ")));
        encode(&Header::new(Algorithm::HS256), &body, &EncodingKey::from_secret(&self.secret))
            .map_err(|e| format!("cannot sign the token: {e}"))
    }

    /// The claims and scopes of `token`, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Verified, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("the token is longer than {MAX_TOKEN_BYTES} bytes"));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let data = decode::<Map<String, Value>>(token, &DecodingKey::from_secret(&self.secret), &validation)
            .map_err(|e| format!("the token is refused: {e}"))?;
        let claims = data.claims;
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        Ok(Verified { claims, scopes })
    }
}

/// `authorization: Bearer <token>`'s token.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

fn write_private(path: &Path, secret: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| format!("cannot create the token key {}: {e}", path.display()))?;
    file.write_all(secret).map_err(|e| format!("cannot write the token key {}: {e}", path.display()))
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
