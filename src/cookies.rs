//! The two browser cookies of the authorization flow, signed with a key every replica shares.
//!
//! * The **consent cookie** binds an approved authorization to the browser that approved it:
//!   the upstream callback is accepted only from that browser (login CSRF / confused deputy).
//!   It is bound to the client id and the pending authorization, lives as long as the pending
//!   authorization, and is `__Host-`, `Secure` over https, always `HttpOnly`, `SameSite=Lax`.
//! * The **user cookie** remembers who logged in here before, so a returning user is not asked
//!   again for a consent they already gave (the upstream login still happens). It is a hint,
//!   never an authorization: the callback issues a code only if the subject who logged in is the
//!   remembered one and has the consent on record. `__Host-` under https, so a sibling
//!   subdomain cannot plant it (RFC 6265bis section 4.1.3.2).

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use uuid::Uuid;

use crate::{crypto::hash::constant_time_eq, services::Services};

type HmacSha256 = Hmac<sha2::Sha256>;

fn mac(state: &Services, parts: &[&str]) -> String {
    let key = state.sealer.derive_key("cookies");
    #[allow(
        clippy::expect_used,
        reason = "HMAC takes keys of any length (RFC 2104 section 2): new_from_slice cannot fail"
    )]
    let mut m = <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC accepts any key length");
    for p in parts {
        m.update(p.as_bytes());
        m.update(b"\x1f");
    }
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

fn secure(state: &Services) -> bool {
    state.config.public_url.scheme() == "https"
}

fn consent_name(state: &Services, pending: Uuid) -> String {
    let prefix = if secure(state) { "__Host-" } else { "" };
    format!(
        "{prefix}mab-consent-{}",
        &pending.simple().to_string()[..12]
    )
}

/// The user cookie's name: `__Host-` under https (no `Domain`, `Path=/`, `Secure`: a sibling
/// subdomain cannot set or shadow it); plain under http, where browsers refuse the prefix.
fn user_name(secure: bool) -> &'static str {
    if secure {
        "__Host-mab-user"
    } else {
        "mab-user"
    }
}

fn set_cookie(state: &Services, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if secure(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("mab-invalid=1"))
}

fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A fresh binding for one render of the consent page: the cookie to set and the CSRF token
/// the form must echo. Both derive from a random nonce, so each render has its own.
pub struct ConsentBinding {
    pub nonce: String,
    pub csrf: String,
    pub set_cookie: HeaderValue,
}

pub fn new_consent_binding(
    state: &Services,
    pending: Uuid,
    client_id: &str,
    max_age: u64,
) -> ConsentBinding {
    let nonce = crate::crypto::random::token();
    let signature = mac(state, &["consent", &pending.to_string(), client_id, &nonce]);
    let csrf = mac(state, &["csrf", &pending.to_string(), &nonce]);
    let set_cookie = set_cookie(
        state,
        &consent_name(state, pending),
        &format!("{nonce}.{signature}"),
        max_age,
    );
    ConsentBinding {
        nonce,
        csrf,
        set_cookie,
    }
}

/// The nonce of this browser's consent cookie for `pending`, if the cookie is present and its
/// signature binds it to `pending` and `client_id`.
pub fn consent_nonce(
    state: &Services,
    headers: &HeaderMap,
    pending: Uuid,
    client_id: &str,
) -> Option<String> {
    let value = read(headers, &consent_name(state, pending))?;
    let (nonce, signature) = value.split_once('.')?;
    let expected = mac(state, &["consent", &pending.to_string(), client_id, nonce]);
    constant_time_eq(signature.as_bytes(), expected.as_bytes()).then(|| nonce.to_owned())
}

/// Whether a submitted CSRF token belongs to this browser's consent cookie.
pub fn csrf_ok(state: &Services, pending: Uuid, nonce: &str, submitted: &str) -> bool {
    let expected = mac(state, &["csrf", &pending.to_string(), nonce]);
    constant_time_eq(submitted.as_bytes(), expected.as_bytes())
}

pub fn clear_consent(state: &Services, pending: Uuid) -> HeaderValue {
    set_cookie(state, &consent_name(state, pending), "", 0)
}

/// Remembers the user of a tenant for 30 days (subject only; no token).
pub fn remember_user(state: &Services, tenant: &str, subject: &str) -> HeaderValue {
    let encoded = URL_SAFE_NO_PAD.encode(subject.as_bytes());
    let signature = mac(state, &["user", tenant, subject]);
    set_cookie(
        state,
        user_name(secure(state)),
        &format!("{tenant}.{encoded}.{signature}"),
        30 * 86_400,
    )
}

/// Clears the user cookie (it named someone other than who logged in).
pub fn forget_user(state: &Services) -> HeaderValue {
    set_cookie(state, user_name(secure(state)), "", 0)
}

/// The remembered subject for `tenant`, if the cookie is present and genuine.
pub fn remembered_user(state: &Services, headers: &HeaderMap, tenant: &str) -> Option<String> {
    let value = read(headers, user_name(secure(state)))?;
    let mut parts = value.splitn(3, '.');
    let (t, encoded, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if t != tenant {
        return None;
    }
    let subject = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    let expected = mac(state, &["user", tenant, &subject]);
    constant_time_eq(signature.as_bytes(), expected.as_bytes()).then_some(subject)
}

#[cfg(test)]
mod tests {
    use super::user_name;

    #[test]
    fn the_user_cookie_is_host_prefixed_under_https_so_a_sibling_subdomain_cannot_plant_it() {
        assert_eq!(user_name(true), "__Host-mab-user");
        assert_eq!(user_name(false), "mab-user");
    }
}
