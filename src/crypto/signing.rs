//! Per-tenant JWT signing keys (ES256): generation, the public JWK, and jsonwebtoken keys.
//!
//! The private key leaves this module only as PKCS#8 DER inside a [`Secret`], to be sealed
//! before it is stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, Header, errors::ErrorKind};
use p256::{ecdsa::SigningKey, pkcs8::EncodePrivateKey};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use serde::{Deserialize, Serialize};

use crate::domain::Secret;

/// The public half of a signing key as published in the tenant's JWKS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

/// A freshly generated key pair.
pub struct GeneratedKey {
    pub kid: String,
    pub private_pkcs8_der: Secret<Vec<u8>>,
    pub public: PublicJwk,
}

#[derive(Debug, thiserror::Error)]
#[error("signing key material is invalid")]
pub struct InvalidKey;

/// Generates an ES256 key pair; its `kid` is the RFC 7638 JWK thumbprint.
pub fn generate_es256() -> GeneratedKey {
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let point = signing.verifying_key().to_encoded_point(false);
    let x = URL_SAFE_NO_PAD.encode(point.x().map(|x| x.to_vec()).unwrap_or_default());
    let y = URL_SAFE_NO_PAD.encode(point.y().map(|y| y.to_vec()).unwrap_or_default());
    let kid = thumbprint(&x, &y);
    let der = signing
        .to_pkcs8_der()
        .map(|doc| doc.as_bytes().to_vec())
        .unwrap_or_default();
    GeneratedKey {
        kid: kid.clone(),
        private_pkcs8_der: Secret::new(der),
        public: PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid,
            use_: "sig".into(),
            alg: "ES256".into(),
        },
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, base64url.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(super::hash::sha256(canonical.as_bytes()))
}

/// An ES256 private key parsed once, producing compact JWS (RFC 7515 section 7.1).
///
/// Why not `jsonwebtoken::encode`: it parses the PKCS#8 document on every call, and ring's
/// parser recomputes the public key from the private one to check the pair (a scalar
/// multiplication, as costly as the signature itself). The gateway signs an
/// `X-Auth-Assertion` for every access token it has not seen in the last 30 s, so with many
/// rarely-seen users that parse was about half of a request's signing cost (issue 13;
/// `bench/README.md`, "Gateway").
pub struct Es256Key {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Es256Key(..)")
    }
}

impl Es256Key {
    pub fn from_pkcs8(private_pkcs8_der: &[u8]) -> Result<Self, InvalidKey> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, private_pkcs8_der, &rng)
                .map_err(|_| InvalidKey)?;
        Ok(Self { pair, rng })
    }

    /// `header.claims.signature`, base64url without padding, with the signature's `S` in its
    /// low form (`(r, n - s)` when ring gave a high one: the same signature, and the only form
    /// the bridge's verifier accepts).
    pub fn sign<T: Serialize>(
        &self,
        header: &Header,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
        let signature = self.signature(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// The raw 64-byte signature (`r || s`, `s` low) of a JWS signing input
    /// (`header.claims`, already base64url): for a caller that keeps the signature and encodes
    /// the token again when it needs it (the gateway's cached `X-Auth-Assertion`).
    pub fn signature(&self, signing_input: &[u8]) -> Result<[u8; 64], jsonwebtoken::errors::Error> {
        let signature = self
            .pair
            .sign(&self.rng, signing_input)
            .map_err(|_| jsonwebtoken::errors::Error::from(ErrorKind::InvalidEcdsaKey))?;
        let signature = p256::ecdsa::Signature::from_slice(signature.as_ref())
            .map_err(|_| jsonwebtoken::errors::Error::from(ErrorKind::InvalidSignature))?;
        let low = signature.normalize_s().unwrap_or(signature);
        Ok(low.to_bytes().into())
    }
}

pub fn decoding_key(public: &PublicJwk) -> Result<DecodingKey, InvalidKey> {
    DecodingKey::from_ec_components(&public.x, &public.y).map_err(|_| InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, Header, Validation};

    #[test]
    fn a_token_signed_with_a_generated_key_verifies_with_its_jwk() {
        let key = generate_es256();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        let claims = serde_json::json!({"sub": "u1", "exp": 4_000_000_000u64});
        let token = Es256Key::from_pkcs8(key.private_pkcs8_der.expose())
            .unwrap()
            .sign(&header, &claims)
            .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &decoding_key(&key.public).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims["sub"], "u1");
    }

    #[test]
    fn another_keys_jwk_does_not_verify() {
        let (a, b) = (generate_es256(), generate_es256());
        assert_ne!(a.kid, b.kid);
        let token = Es256Key::from_pkcs8(a.private_pkcs8_der.expose())
            .unwrap()
            .sign(
                &Header::new(Algorithm::ES256),
                &serde_json::json!({"exp": 4_000_000_000u64}),
            )
            .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &decoding_key(&b.public).unwrap(),
                &validation
            )
            .is_err()
        );
    }
}
