//! `X-Auth-Assertion`: a short-lived JWT, signed with the tenant's key, that tells the MCP server
//! who the user is in a form it can verify against the tenant's JWKS (unlike plain headers,
//! which it must trust the network for).

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::{token_claims::TokenClaims, user_cache::CachedUser};
use crate::tokens::keys::Signer;

/// Lifetime of an assertion; the gateway keeps one's signature and reuses it for half of it.
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

/// What the gateway keeps of a signed assertion per access token: only what cannot be
/// recomputed cheaply. Signing costs ~28 µs, encoding the JWT again ~1 µs; keeping the whole
/// JWT (~600 bytes) per cached user was a quarter of the gateway's memory per user (issue 13,
/// item 4). The payload is rebuilt from the same access claims and the same `CachedUser` it
/// was signed from (the token cache reuses a `Signed` only with that very context), and its
/// serialization is deterministic (fixed field order, `MappedClaims` is a `BTreeMap`), so the
/// bytes are those that were signed.
#[derive(Clone)]
pub struct Signed {
    /// The base64url protected header: one per signing key, shared by its assertions (an
    /// `Arc<String>`, one pointer, not an `Arc<str>`'s two: 8 bytes per cached token).
    header: Arc<String>,
    iat: i64,
    signature: [u8; 64],
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("iat", &self.iat)
            .finish_non_exhaustive()
    }
}

fn claims<'a>(access: &'a TokenClaims, user: &'a CachedUser, iat: i64) -> Claims<'a> {
    Claims {
        iss: &access.iss,
        sub: &access.sub,
        aud: &access.aud,
        client_id: &access.client_id,
        scope: &access.scope,
        email: user.email.as_deref(),
        name: user.name.as_deref(),
        iat,
        exp: iat + LIFETIME_SECS,
        claims: &user.claims,
    }
}

/// Signs the assertion of `user` behind the access token `access`, issued `now`.
pub fn sign(
    signer: &Signer,
    access: &TokenClaims,
    user: &CachedUser,
    now: DateTime<Utc>,
) -> Result<Signed, jsonwebtoken::errors::Error> {
    let header = header(&signer.kid)?;
    let iat = now.timestamp();
    let input = signing_input(&header, &claims(access, user, iat))?;
    let signature = signer.key.signature(input.as_bytes())?;
    Ok(Signed {
        header,
        iat,
        signature,
    })
}

impl Signed {
    /// The compact JWT, encoded again from the claims and user context it was signed from.
    pub fn encode(
        &self,
        access: &TokenClaims,
        user: &CachedUser,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut token = signing_input(&self.header, &claims(access, user, self.iat))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(self.signature, &mut token);
        Ok(token)
    }

    /// When it was issued (seconds since the epoch).
    pub fn iat(&self) -> i64 {
        self.iat
    }

    /// A `Signed` that signs nothing, issued `iat`, for tests of what keeps it.
    #[cfg(test)]
    pub(crate) fn for_tests(iat: i64) -> Self {
        Self {
            header: Arc::default(),
            iat,
            signature: [0; 64],
        }
    }
}

/// `header.payload`, base64url, with room for the signature.
fn signing_input(header: &str, claims: &Claims<'_>) -> Result<String, jsonwebtoken::errors::Error> {
    let payload = serde_json::to_vec(claims)?;
    let mut input = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
    input.push_str(header);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut input);
    Ok(input)
}

/// Distinct signing keys whose header is kept (a few per tenant); past that it is built anew.
const HEADERS_KEPT: usize = 1024;

static HEADERS: LazyLock<Mutex<HashMap<Box<str>, Arc<String>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The encoded protected header for key `kid`, shared by every assertion it signs.
fn header(kid: &str) -> Result<Arc<String>, jsonwebtoken::errors::Error> {
    // A poisoned lock only means another thread panicked while inserting: the map is intact.
    let mut headers = HEADERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(header) = headers.get(kid) {
        return Ok(header.clone());
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header.typ = Some(TYP.into());
    let encoded = Arc::new(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?));
    if headers.len() < HEADERS_KEPT {
        headers.insert(kid.into(), encoded.clone());
    }
    Ok(encoded)
}

/// The encoded payload of an assertion being written, per thread: it is sized before the JWT's
/// buffer is, and reused. Dropped when an unusually large one (mapped claims) leaves it big.
const PAYLOAD_KEPT: usize = 16 * 1024;

thread_local! {
    static PAYLOAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Signed {
    /// Like [`Signed::encode`], appending the compact JWT to `out` after reserving its exact
    /// length plus `spare` bytes (for what the caller appends next): the gateway encodes the
    /// assertion on every request (issue 13, item 2), and `encode` grew a JSON buffer and a
    /// `String` that the header value then copied. Here the identity headers of a request share
    /// one buffer (`identity.rs`). On an error `out` is as it was.
    pub fn encode_into(
        &self,
        access: &TokenClaims,
        user: &CachedUser,
        out: &mut Vec<u8>,
        spare: usize,
    ) -> Result<(), jsonwebtoken::errors::Error> {
        PAYLOAD.with(|payload| {
            let mut payload = payload.borrow_mut();
            payload.clear();
            serde_json::to_writer(&mut *payload, &claims(access, user, self.iat))?;
            let encoded_payload = base64::encoded_len(payload.len(), false).unwrap_or(usize::MAX);
            let encoded_signature = base64::encoded_len(self.signature.len(), false).unwrap_or(0);
            let start = out.len();
            out.reserve(self.header.len() + 1 + encoded_payload + 1 + encoded_signature + spare);
            out.extend_from_slice(self.header.as_bytes());
            out.push(b'.');
            let payload_at = out.len();
            out.resize(payload_at + encoded_payload, 0);
            let written = out
                .get_mut(payload_at..)
                .map(|part| URL_SAFE_NO_PAD.encode_slice(&*payload, part));
            out.push(b'.');
            let signature_at = out.len();
            out.resize(signature_at + encoded_signature, 0);
            let signed = out
                .get_mut(signature_at..)
                .map(|part| URL_SAFE_NO_PAD.encode_slice(self.signature, part));
            if payload.capacity() > PAYLOAD_KEPT {
                *payload = Vec::new();
            }
            match (written, signed) {
                (Some(Ok(_)), Some(Ok(_))) => Ok(()),
                _ => {
                    out.truncate(start);
                    Err(jsonwebtoken::errors::ErrorKind::InvalidToken.into())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crypto::signing, domain::ClaimValue};
    use jsonwebtoken::Validation;

    #[test]
    fn an_assertion_encoded_again_from_its_signature_verifies_and_is_the_same_jwt() {
        let key = signing::generate_es256();
        let signer = Signer {
            kid: key.kid.clone(),
            key: signing::Es256Key::from_pkcs8(key.private_pkcs8_der.expose()).unwrap(),
        };
        let access = TokenClaims::from(crate::tokens::AccessClaims {
            iss: "https://bridge.example.com/t/acme".into(),
            sub: "user-1".into(),
            aud: "https://bridge.example.com/t/acme/mcp/github".into(),
            client_id: "client-1".into(),
            scope: "mcp read".into(),
            jti: uuid::Uuid::nil(),
            iat: 0,
            exp: 1,
        });
        let user = CachedUser {
            email: Some("ada@example.com".into()),
            name: Some("Zoë \"Ada\"".into()),
            claims: [
                ("roles".to_owned(), ClaimValue::Text("admin".into())),
                (
                    "groups".to_owned(),
                    ClaimValue::List(vec!["b".into(), "a".into()]),
                ),
            ]
            .into(),
        };
        let signed = sign(&signer, &access, &user, Utc::now()).unwrap();
        let jwt = signed.encode(&access, &user).unwrap();
        assert_eq!(signed.encode(&access, &user).unwrap(), jwt);
        let mut appended = b"before ".to_vec();
        signed
            .encode_into(&access, &user, &mut appended, 0)
            .unwrap();
        assert_eq!(appended, format!("before {jwt}").as_bytes());

        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[&*access.aud]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &signing::decoding_key(&key.public).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.header.typ.as_deref(), Some(TYP));
        assert_eq!(data.header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(data.claims["sub"], "user-1");
        assert_eq!(data.claims["name"], "Zoë \"Ada\"");
        assert_eq!(data.claims["groups"], serde_json::json!(["b", "a"]));
        assert_eq!(data.claims["exp"], signed.iat + LIFETIME_SECS);
    }
}
