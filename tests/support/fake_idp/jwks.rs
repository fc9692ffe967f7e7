//! The signing key, id tokens, the JWKS document and OIDC discovery.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};

use super::{IdTokenAlg, ProviderMode, modes, state::Shared, state::bump};

/// A fixed 2048-bit RSA key for RS256 id tokens. TEST-ONLY: it is public in this repository and
/// must never sign anything outside tests.
const RSA_TEST_KEY_PEM: &str = include_str!("rs256_test_key.pem");
/// The public half of `RSA_TEST_KEY_PEM` as JWK `n`/`e` (computed once with openssl).
const RSA_TEST_KEY_JWK: &str = include_str!("rs256_test_key.jwk.json");

pub struct SigningKey {
    pub alg: Algorithm,
    pub kid: String,
    encoding: EncodingKey,
    /// The public JWK, with `kid`, `alg` and `use`.
    pub jwk: Value,
}

impl SigningKey {
    /// ES256: a fresh P-256 key per server; RS256: the committed test key.
    pub fn generate(alg: IdTokenAlg) -> Self {
        match alg {
            IdTokenAlg::Es256 => Self::es256(),
            IdTokenAlg::Rs256 => Self::rs256(),
        }
    }

    fn es256() -> Self {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a fresh P-256 key encodes as PKCS#8");
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).expect("PKCS#8 P-256 key");
        let jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string())
            .expect("p256 writes a JSON JWK");
        Self::with_jwk(Algorithm::ES256, "fake-es256", encoding, jwk)
    }

    fn rs256() -> Self {
        let encoding =
            EncodingKey::from_rsa_pem(RSA_TEST_KEY_PEM.as_bytes()).expect("committed RSA test key");
        let jwk: Value = serde_json::from_str(RSA_TEST_KEY_JWK).expect("committed RSA JWK");
        Self::with_jwk(Algorithm::RS256, "fake-rs256", encoding, jwk)
    }

    fn with_jwk(alg: Algorithm, kid: &str, encoding: EncodingKey, mut jwk: Value) -> Self {
        if let Some(map) = jwk.as_object_mut() {
            map.insert("kid".into(), kid.into());
            map.insert("use".into(), "sig".into());
            map.insert("alg".into(), format!("{alg:?}").into());
        }
        SigningKey {
            alg,
            kid: kid.into(),
            encoding,
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> Option<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).ok()
    }
}

/// The id token for one code exchange (OIDC Core §2).
pub fn id_token(shared: &Shared, nonce: Option<&str>) -> Option<String> {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": shared.issuer(),
        "sub": shared.user.subject,
        "aud": shared.client_id,
        "azp": shared.client_id,
        "iat": now,
        "exp": now + 300,
        "email": shared.user.email,
        "email_verified": true,
        "name": shared.user.name,
        "preferred_username": shared.user.username,
    });
    if let (Some(nonce), Some(map)) = (nonce, claims.as_object_mut()) {
        map.insert("nonce".into(), nonce.into());
    }
    if let (ProviderMode::Entra, Some(map)) = (shared.mode, claims.as_object_mut()) {
        map.insert("tid".into(), modes::ENTRA_TENANT_ID.into());
    }
    let overrides = shared.knobs().id_token_claims.clone();
    if let Some(map) = claims.as_object_mut() {
        map.extend(overrides);
    }
    shared.key.sign(&claims)
}

pub async fn jwks(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    bump(&shared.counters.jwks);
    Json(json!({ "keys": [shared.key.jwk] }))
}

/// `{issuer}/.well-known/openid-configuration`, for the OIDC modes only.
pub async fn discovery(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    let issuer = shared.issuer();
    discovery_naming(&shared, &issuer)
}

/// Entra's tenant-independent document (`/common/v2.0`): the issuer is a template.
pub async fn entra_common_discovery(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    let template = format!("{}/{{tenantid}}/v2.0", shared.base);
    discovery_naming(&shared, &template)
}

fn discovery_naming(shared: &Shared, issuer: &str) -> axum::response::Response {
    bump(&shared.counters.discovery);
    let mode = shared.mode;
    if !modes::is_oidc(mode) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let url = |path: String| format!("{}{path}", shared.base);
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": url(modes::authorize_path(mode)),
        "token_endpoint": url(modes::token_path(mode)),
        "userinfo_endpoint": url(modes::userinfo_path(mode)),
        "jwks_uri": url(modes::jwks_path(mode)),
        "revocation_endpoint": url(modes::revoke_path(mode, &shared.client_id)),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [format!("{:?}", shared.key.alg)],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "name",
            "preferred_username"],
        "authorization_response_iss_parameter_supported": modes::sends_iss(mode),
    });
    if let (ProviderMode::Entra, Some(map)) = (mode, doc.as_object_mut()) {
        map.remove("revocation_endpoint");
    }
    Json(doc).into_response()
}
