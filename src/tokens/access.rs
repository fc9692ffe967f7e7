//! Issuing and verifying MCP access tokens (ES256 JWTs, `kid` in the header).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{Signer, TenantKeys};
use crate::store::StoreError;

/// The claims of an MCP access token. `aud` is the MCP server's resource URL (RFC 8707), so a
/// token issued for one server is refused by every other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT of this server")]
    Malformed,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued by another authorization server")]
    WrongIssuer,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest token we try to parse; anything larger is hostile.
const MAX_TOKEN_LEN: usize = 8 * 1024;

pub fn sign(signer: &Signer, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(signer.kid.clone());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &signer.key)
}

/// Checks format, algorithm, key, signature, issuer and expiry (with `leeway` seconds) at `now`.
/// The audience is checked by the caller, which knows which resource is being accessed.
pub async fn verify(
    keys: &TenantKeys,
    tenant_id: Uuid,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
    leeway: u64,
) -> Result<AccessClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(TokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::ES256 {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::Malformed)?;
    if kid.len() > 128 {
        return Err(TokenError::Malformed);
    }
    let key = keys
        .verifier(tenant_id, &kid)
        .await?
        .ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        }
    })?;
    let claims = data.claims;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    let now = now.timestamp();
    let leeway = leeway as i64;
    if claims.exp.saturating_add(leeway) < now {
        return Err(TokenError::Expired);
    }
    if claims.iat.saturating_sub(leeway) > now {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}
