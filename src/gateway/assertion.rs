//! `X-Auth-Assertion`: a short-lived JWT, signed with the tenant's key, that tells the MCP server
//! who the user is in a form it can verify against the tenant's JWKS (unlike plain headers,
//! which it must trust the network for).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::user_cache::CachedUser;
use crate::tokens::{AccessClaims, keys::Signer};

/// Lifetime of an assertion; the gateway caches and reuses one for half of it.
pub const LIFETIME_SECS: i64 = 60;

/// The assertion's own JWT type (RFC 8725 section 3.11): it is signed with the tenant's
/// access-token key, and the token verifier accepts only `at+jwt`, so an assertion an MCP
/// server received can never be presented back to the bridge as a bearer token. MCP servers
/// verifying it should check this `typ` too.
pub const TYP: &str = "mcp-auth-assertion+jwt";

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    iat: i64,
    exp: i64,
    /// The provider's mapped claims (`groups`, `roles`, …) at the top level; their names can
    /// never be one of the fields above (`domain::claims` reserves them).
    #[serde(flatten)]
    claims: &'a crate::domain::MappedClaims,
}

pub fn sign(
    signer: &Signer,
    access: &AccessClaims,
    user: &CachedUser,
    now: DateTime<Utc>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(signer.kid.clone());
    header.typ = Some(TYP.into());
    let claims = Claims {
        iss: &access.iss,
        sub: &access.sub,
        aud: &access.aud,
        client_id: &access.client_id,
        scope: &access.scope,
        email: user.email.as_deref(),
        name: user.name.as_deref(),
        iat: now.timestamp(),
        exp: now.timestamp() + LIFETIME_SECS,
        claims: &user.claims,
    };
    signer.key.sign(&header, &claims)
}
