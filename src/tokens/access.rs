//! Issuing and verifying MCP access tokens (ES256 JWTs, `kid` in the header).
//!
//! Two rules beyond the signature itself (issue 11, item 11):
//! - `typ` must be `at+jwt` (RFC 9068 section 2.1 / 4): the gateway's `X-Auth-Assertion` is
//!   signed with the same tenant key but carries `typ: mcp-auth-assertion+jwt`, so it can never
//!   be replayed as a bearer token (RFC 8725 section 3.11, explicit typing).
//! - the ECDSA `S` must be in the lower half of the curve order: `(r, s)` and `(r, n - s)` both
//!   verify, and a token must have exactly one valid string (it is hashed into caches and
//!   compared as a credential).

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

/// The `typ` of the bridge's access tokens (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

pub fn sign(signer: &Signer, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(signer.kid.clone());
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    signer.key.sign(&header, claims)
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
    if header.alg != Algorithm::ES256 || !is_access_token_typ(header.typ.as_deref()) {
        return Err(TokenError::Malformed);
    }
    if !has_low_s(token) {
        return Err(TokenError::BadSignature);
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

/// RFC 9068 section 4: `at+jwt`, or its full media type `application/at+jwt`, compared
/// case-insensitively (RFC 7515 section 4.1.9). Anything else (the gateway's assertions, ID
/// tokens, plain `JWT`) is not an access token.
fn is_access_token_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        let t = t.strip_prefix("application/").unwrap_or(t);
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
    })
}

/// Whether the token's ES256 signature (`r || s`, RFC 7518 section 3.4) has a low `S`; the
/// bridge's signer (ring) always produces one, and `normalize_s` is `None` exactly then.
fn has_low_s(token: &str) -> bool {
    use base64::Engine as _;
    let Some(signature) = token.rsplit('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| p256::ecdsa::Signature::from_slice(&bytes).ok())
        .is_some_and(|signature| signature.normalize_s().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signed_token_has_a_low_s() {
        let key = crate::crypto::signing::generate_es256();
        let signer = Signer {
            kid: key.kid.clone(),
            key: crate::crypto::signing::Es256Key::from_pkcs8(key.private_pkcs8_der.expose())
                .unwrap(),
        };
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            client_id: "c".into(),
            scope: "mcp".into(),
            jti: Uuid::nil(),
            iat: 0,
            exp: 1,
        };
        // ring gives a high S about every other time: 32 signatures all but never miss one.
        for _ in 0..32 {
            let token = sign(&signer, &claims).unwrap_or_default();
            assert!(has_low_s(&token), "{token}");
        }
    }

    #[test]
    fn only_the_access_token_type_is_an_access_token() {
        assert!(is_access_token_typ(Some("at+jwt")));
        assert!(is_access_token_typ(Some("application/AT+JWT")));
        for other in [None, Some("JWT"), Some("mcp-auth-assertion+jwt"), Some("")] {
            assert!(!is_access_token_typ(other), "{other:?}");
        }
    }
}
