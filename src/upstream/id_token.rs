//! Validating upstream ID tokens: signature against the upstream JWKS, `iss`, `aud`, `nonce`,
//! expiry with clock-skew leeway.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use url::Url;

use super::{UpstreamError, jwks::JwksCache};

/// The claims we use from an ID token.
#[derive(Clone, Debug, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    /// Every claim of the token, for the provider's claim mapping (`domain::claims`): an OIDC
    /// provider may put there what its userinfo lacks (Keycloak `groups`, say). Bounded by the
    /// token's own size limit.
    #[serde(skip)]
    pub all: serde_json::Value,
}

/// Asymmetric algorithms only: `none` and HMAC (which would use the client secret as the key)
/// are refused.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub jwks: &'a Url,
    pub now: DateTime<Utc>,
    pub leeway_secs: u64,
}

pub async fn validate(
    jwks: &JwksCache,
    token: &str,
    expected: &Expected<'_>,
) -> Result<IdClaims, UpstreamError> {
    let bad = |why: &str| UpstreamError::Protocol(format!("ID token rejected: {why}"));
    if token.len() > 16 * 1024 {
        return Err(bad("too large"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| bad("malformed"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(bad("algorithm not allowed"));
    }
    let key = jwks
        .key(expected.jwks, header.kid.as_deref())
        .await?
        .ok_or_else(|| bad("unknown key"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let all = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|e| bad(&format!("{:?}", e.kind())))?
        .claims;
    let mut claims = IdClaims::deserialize(&all).map_err(|_| bad("claims of the wrong type"))?;
    claims.all = all;
    let now = expected.now.timestamp();
    let leeway = expected.leeway_secs as i64;
    if claims.exp.saturating_add(leeway) < now {
        return Err(bad("expired"));
    }
    if claims
        .iat
        .is_some_and(|iat| iat.saturating_sub(leeway) > now)
    {
        return Err(bad("issued in the future"));
    }
    let nonce_ok = claims.nonce.as_deref().is_some_and(|n| {
        crate::crypto::hash::constant_time_eq(n.as_bytes(), expected.nonce.as_bytes())
    });
    if !nonce_ok {
        return Err(bad("nonce mismatch"));
    }
    Ok(claims)
}

/// The issuer to expect in an ID token: the configured one, in the form the token spells it
/// when the two differ only by a trailing `/` (configured URLs lose it, Auth0-style issuers keep
/// it). Only the spelling is taken from the unverified token, never another issuer.
pub(super) fn issuer_as_sent(configured: &str, id_token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let sent = id_token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|claims| claims.get("iss")?.as_str().map(str::to_owned));
    match sent {
        Some(sent) if sent.trim_end_matches('/') == configured.trim_end_matches('/') => sent,
        _ => configured.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::issuer_as_sent;

    fn token(iss: &str) -> String {
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"{iss}"}}"#));
        format!("eyJhbGciOiJSUzI1NiJ9.{claims}.sig")
    }

    #[test]
    fn the_expected_issuer_takes_only_the_trailing_slash_from_the_token() {
        let auth0 = "https://acme.auth0.com/";
        assert_eq!(
            issuer_as_sent("https://acme.auth0.com", &token(auth0)),
            auth0
        );
        let other = token("https://evil.example");
        assert_eq!(
            issuer_as_sent("https://acme.auth0.com", &other),
            "https://acme.auth0.com"
        );
        assert_eq!(issuer_as_sent("https://a", "garbage"), "https://a");
    }
}
