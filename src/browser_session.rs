//! Short-lived browser sessions of the two consoles (the account page, the admin console): the
//! session travels in one cookie, sealed with the keyring every replica shares (AES-256-GCM, the
//! cookie's purpose as associated data), so no replica needs a session table and nobody can read
//! or forge its content. Every form carries a CSRF token derived from the session's random nonce.
//!
//! Cookies are `HttpOnly`, `Path=/` and, under https, `Secure` with the `__Host-` prefix (a
//! sibling subdomain can neither set nor shadow them, RFC 6265bis section 4.1.3.2).

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};

use crate::crypto::{Sealed, Sealer, hash::constant_time_eq};

/// `SameSite` of a session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from elsewhere (needed where an IdP redirects back).
    Lax,
    /// Never sent on a request another site starts (the admin console).
    Strict,
}

/// One kind of session cookie: its base name, its purpose (the sealing AAD and the CSRF key's
/// label) and its `SameSite`.
#[derive(Clone, Copy, Debug)]
pub struct CookieKind {
    pub name: &'static str,
    pub purpose: &'static str,
    pub same_site: SameSite,
}

impl CookieKind {
    /// The cookie's name: `__Host-` under https; plain under http, where browsers refuse the
    /// prefix.
    pub fn cookie_name(&self, secure: bool) -> String {
        if secure {
            format!("__Host-{}", self.name)
        } else {
            self.name.to_owned()
        }
    }

    /// `Set-Cookie` carrying `value` sealed, for `max_age_secs`.
    pub fn set<T: Serialize>(
        &self,
        sealer: &Sealer,
        secure: bool,
        value: &T,
        max_age_secs: u64,
    ) -> HeaderValue {
        let plain = serde_json::to_vec(value).unwrap_or_default();
        let sealed = sealer.seal(&plain, self.purpose);
        let text = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(sealed.key_id.as_bytes()),
            URL_SAFE_NO_PAD.encode(&sealed.blob)
        );
        self.header(secure, &text, max_age_secs)
    }

    /// `Set-Cookie` that deletes the cookie.
    pub fn clear(&self, secure: bool) -> HeaderValue {
        self.header(secure, "", 0)
    }

    fn header(&self, secure: bool, value: &str, max_age_secs: u64) -> HeaderValue {
        let same_site = match self.same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        };
        let secure_attr = if secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure_attr}",
            self.cookie_name(secure)
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("mab-invalid=1"))
    }

    /// The cookie's content, if present, genuine and of this purpose.
    pub fn read<T: DeserializeOwned>(
        &self,
        sealer: &Sealer,
        secure: bool,
        headers: &HeaderMap,
    ) -> Option<T> {
        let raw = read_cookie(headers, &self.cookie_name(secure))?;
        let (key_id, blob) = raw.split_once('.')?;
        let sealed = Sealed {
            key_id: String::from_utf8(URL_SAFE_NO_PAD.decode(key_id).ok()?).ok()?,
            blob: URL_SAFE_NO_PAD.decode(blob).ok()?,
        };
        let plain = sealer.open(&sealed, self.purpose).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// The CSRF token every form of a session with `nonce` must carry.
    pub fn csrf_token(&self, sealer: &Sealer, nonce: &str) -> String {
        let key = sealer.derive_key(&format!("csrf:{}", self.purpose));
        #[allow(
            clippy::expect_used,
            reason = "HMAC takes keys of any length (RFC 2104 section 2): new_from_slice cannot fail"
        )]
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts any key length");
        mac.update(nonce.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `submitted` is the CSRF token of the session with `nonce` (constant time).
    pub fn csrf_ok(&self, sealer: &Sealer, nonce: &str, submitted: &str) -> bool {
        let expected = self.csrf_token(sealer, nonce);
        constant_time_eq(submitted.as_bytes(), expected.as_bytes())
    }
}

/// Whether a session that ends at `expires_at` is still good at `now`.
pub fn live(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < expires_at
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: CookieKind = CookieKind {
        name: "mab-test",
        purpose: "test-session",
        same_site: SameSite::Strict,
    };

    fn sealer() -> Sealer {
        Sealer::single("k", [7; 32])
    }

    fn as_request(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, pair.parse().unwrap());
        h
    }

    #[test]
    fn a_sealed_session_reads_back_and_is_host_prefixed_strict_under_https() {
        let set = KIND.set(&sealer(), true, &("alice", 3), 60);
        let text = set.to_str().unwrap();
        assert!(text.starts_with("__Host-mab-test="), "{text}");
        assert!(
            text.contains("HttpOnly")
                && text.contains("SameSite=Strict")
                && text.contains("Secure")
        );
        let back: (String, i32) = KIND.read(&sealer(), true, &as_request(&set)).unwrap();
        assert_eq!(back, ("alice".to_owned(), 3));
    }

    #[test]
    fn a_cookie_of_another_purpose_or_key_does_not_open() {
        let other = CookieKind {
            purpose: "other",
            ..KIND
        };
        let set = other.set(&sealer(), false, &"x", 60);
        assert!(
            KIND.read::<String>(&sealer(), false, &as_request(&set))
                .is_none()
        );
        let set = KIND.set(&Sealer::single("k", [8; 32]), false, &"x", 60);
        assert!(
            KIND.read::<String>(&sealer(), false, &as_request(&set))
                .is_none()
        );
    }

    #[test]
    fn a_csrf_token_belongs_to_its_nonce() {
        let token = KIND.csrf_token(&sealer(), "n1");
        assert!(KIND.csrf_ok(&sealer(), "n1", &token));
        assert!(!KIND.csrf_ok(&sealer(), "n2", &token));
    }
}
