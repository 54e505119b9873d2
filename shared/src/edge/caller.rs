//! Who is calling: built once at the edge from what API Gateway's JWT authorizer put in
//! the request context (the token's claims and scopes), never from the body.
//!
//! Claims this API reads (a Cognito pre-token-generation trigger, or any OIDC
//! provider's claim mapping, puts them in the access token):
//! - `sub`: the caller's id; a reviewer's id in a refund's history.
//! - `scope` (or the authorizer's `scopes`): space-separated OAuth scopes
//!   ([`crate::topology::scope`]).
//! - `customer_id`: present on a customer's token, which may then act for that customer
//!   only; a token without it is a service's, acting for any customer its scopes allow.
//! - `system`: the fulfilment system (`payment`, `carrier`, ...) a reporter's token
//!   speaks for.
//! - `reviewer_role`: `platform` or `seller`, the refunds a reviewer may decide;
//!   `seller_id`: a seller reviewer's seller, whose products' refunds it decides.
//! - `team`: a docking person's team, whose audit exceptions the token handles; a
//!   token without it (an operator's, a service's) handles any team's.
//!
//! The local runtime verifies its own tokens and hands the handlers the same request
//! context; with `serve --auth off` it marks requests [`AuthOff`] instead, and the
//! caller may do anything ([`Caller::Unrestricted`]).

use std::collections::BTreeSet;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::error::Error;

/// Put in a request's extensions by the local runtime when it runs with `--auth off`:
/// an extension is a Rust value, so no request from outside the process can carry it.
#[derive(Debug, Clone, Copy)]
pub struct AuthOff;

/// The caller of a request, as its credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An open route (`/health`): nobody in particular.
    Anonymous,
    /// The local runtime with `--auth off`: every scope, any customer or system, the
    /// reviewer the body names.
    Unrestricted,
    Token(Identity),
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub subject: String,
    pub scopes: BTreeSet<String>,
    pub customer_id: Option<String>,
    pub system: Option<String>,
    pub reviewer_role: Option<String>,
    /// A seller reviewer's seller (claim `seller_id`).
    pub seller_id: Option<String>,
    /// A docking person's team (claim `team`).
    pub team: Option<String>,
}

impl Caller {
    /// The caller of `request` on a route that needs a token: `Unauthorized` when the
    /// request carries no authorizer context (no token, or one that was refused).
    pub fn of(request: &Request) -> Result<Caller, Error> {
        if request.extensions().get::<AuthOff>().is_some() {
            return Ok(Caller::Unrestricted);
        }
        let jwt = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()),
            _ => None,
        };
        let Some(jwt) = jwt else {
            return Err(Error::Unauthorized("a valid bearer token is required".into()));
        };
        let claim = |name: &str| jwt.claims.get(name).filter(|v| !v.is_empty()).cloned();
        let scopes: BTreeSet<String> = match &jwt.scopes {
            Some(scopes) if !scopes.is_empty() => scopes.iter().cloned().collect(),
            _ => claim("scope")
                .or_else(|| claim("scp"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        };
        let Some(subject) = claim("sub") else {
            return Err(Error::Unauthorized("the token names no subject (`sub`)".into()));
        };
        Ok(Caller::Token(Identity {
            subject,
            scopes,
            customer_id: claim("customer_id"),
            system: claim("system"),
            reviewer_role: claim("reviewer_role"),
            seller_id: claim("seller_id"),
            team: claim("team"),
        }))
    }

    /// Who the caller is, for the records of what it did: the token's subject;
    /// `local` with `--auth off`.
    pub fn subject(&self) -> &str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Unrestricted => "local",
            Caller::Token(id) => &id.subject,
        }
    }

    /// Whether the caller holds `scope`.
    pub fn has(&self, scope: &str) -> bool {
        match self {
            Caller::Anonymous => false,
            Caller::Unrestricted => true,
            Caller::Token(id) => id.scopes.contains(scope),
        }
    }

    /// `Forbidden` unless the caller holds at least one of `scopes` (none: anyone).
    pub fn require_any(&self, scopes: &[&str]) -> Result<(), Error> {
        if scopes.is_empty() || scopes.iter().any(|s| self.has(s)) {
            return Ok(());
        }
        Err(Error::Forbidden(format!("the token lacks the scope this route needs: {}", scopes.join(" or "))))
    }

    /// `Forbidden` unless the caller may act for `customer_id`: a customer's token for
    /// that customer only; a service's token for anyone.
    pub fn may_act_for(&self, customer_id: &str) -> Result<(), Error> {
        match self {
            Caller::Token(Identity { customer_id: Some(own), .. }) if own != customer_id => {
                Err(Error::Forbidden(format!("customer {own} may not act for another customer")))
            }
            _ => Ok(()),
        }
    }

    /// `Forbidden` if the token names a team (claim `team`) other than `team`: a docking
    /// person handles its own team's exceptions; a token without a team, any team's.
    pub fn may_handle_for_team(&self, team: &str) -> Result<(), Error> {
        match self {
            Caller::Token(Identity { team: Some(own), .. }) if own != team => {
                Err(Error::Forbidden(format!("team {own}'s token may not handle team {team}'s exceptions")))
            }
            _ => Ok(()),
        }
    }

    /// `Forbidden` unless the caller speaks for the fulfilment system `system`.
    pub fn may_report_as(&self, system: &str) -> Result<(), Error> {
        match self {
            Caller::Unrestricted => Ok(()),
            Caller::Token(Identity { system: Some(own), .. }) if own == system => Ok(()),
            Caller::Token(Identity { system: Some(own), .. }) => {
                Err(Error::Forbidden(format!("the token speaks for {own}, not for {system}")))
            }
            _ => Err(Error::Forbidden("the token names no fulfilment system (claim `system`)".into())),
        }
    }

    /// `Forbidden` unless a seller reviewer's token names `seller` (the seller of the
    /// refunded product); platform reviewers and `--auth off` pass.
    pub fn may_review_for_seller(&self, seller: Option<&str>) -> Result<(), Error> {
        self.seller_reviewer_may("decide", seller)
    }

    /// `Forbidden` unless a seller reviewer's token names `seller`, the seller of the
    /// refunded product: a seller's reviewer reads its own seller's refunds only, not
    /// another seller's nor those of products no seller sells. Other callers pass (a
    /// customer is held to its own refunds by [`Caller::may_act_for`]).
    pub fn may_read_for_seller(&self, seller: Option<&str>) -> Result<(), Error> {
        self.seller_reviewer_may("read", seller)
    }

    fn seller_reviewer_may(&self, verb: &str, seller: Option<&str>) -> Result<(), Error> {
        match self {
            Caller::Token(Identity { reviewer_role: Some(role), seller_id, .. }) if role == "seller" => {
                match (seller_id.as_deref(), seller) {
                    (Some(own), Some(seller)) if own == seller => Ok(()),
                    (Some(own), Some(seller)) => Err(Error::Forbidden(format!(
                        "seller {own}'s reviewer may not {verb} seller {seller}'s refund"
                    ))),
                    (None, _) => {
                        Err(Error::Forbidden("the seller reviewer's token names no seller (claim `seller_id`)".into()))
                    }
                    (Some(_), None) => Err(Error::Forbidden(format!(
                        "the refunded order names no seller: a seller's reviewer may not {verb} its refund"
                    ))),
                }
            }
            _ => Ok(()),
        }
    }

    /// The reviewer a token names: its `reviewer_role` claim and its subject. `None`
    /// when the caller is not held to its credentials ([`Caller::Unrestricted`]).
    pub fn reviewer(&self) -> Result<Option<(String, String)>, Error> {
        match self {
            Caller::Unrestricted => Ok(None),
            Caller::Token(Identity { reviewer_role: Some(role), subject, .. }) => {
                Ok(Some((role.clone(), subject.clone())))
            }
            _ => Err(Error::Forbidden("the token names no reviewer role (claim `reviewer_role`)".into())),
        }
    }
}

/// The request context API Gateway's JWT authorizer gives a request whose token it
/// accepted: the token's claims (as strings, as API Gateway passes them) and scopes.
/// The local runtime builds the same for the tokens it verifies.
pub fn jwt_context(claims: &serde_json::Map<String, serde_json::Value>, scopes: &[String]) -> RequestContext {
    let claims: serde_json::Map<String, serde_json::Value> = claims
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), serde_json::Value::String(text))
        })
        .collect();
    let context = serde_json::json!({
        "authorizer": {"jwt": {"claims": claims, "scopes": scopes}},
        "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
    });
    // Strings in a shape the type declares: it deserialises; a default context otherwise.
    RequestContext::ApiGatewayV2(serde_json::from_value(context).unwrap_or_default())
}

#[cfg(test)]
#[path = "caller_tests.rs"]
mod tests;
