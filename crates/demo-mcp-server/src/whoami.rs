//! What `whoami` reports: the identity headers that reached this server.
//!
//! Values of headers whose name mentions a token (`X-Auth-Upstream-Token`) are shown only as a
//! short SHA-256 fingerprint: `whoami` answers go back to the MCP client, which must never
//! receive the user's upstream token.

use http::{HeaderMap, header};
use serde_json::{Map, Value, json};

const IDENTITY_PREFIX: &str = "x-auth-";

pub(super) fn report(headers: &HeaderMap) -> Value {
    let mut identity = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if !name.starts_with(IDENTITY_PREFIX) {
            continue;
        }
        let raw = String::from_utf8_lossy(value.as_bytes());
        let shown = if name.contains("token") {
            format!("sha256:{}", crate::random::fingerprint(&raw))
        } else {
            raw.into_owned()
        };
        match identity.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&shown);
            }
            _ => {
                identity.insert(name.to_owned(), Value::String(shown));
            }
        }
    }
    json!({
        "headers": identity,
        "authorization_header_present": headers.contains_key(header::AUTHORIZATION),
        "cookie_present": headers.contains_key(header::COOKIE),
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn tokens_are_fingerprinted_and_other_identity_headers_shown() {
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-user-id", HeaderValue::from_static("u1"));
        headers.insert("x-auth-upstream-token", HeaderValue::from_static("secret"));
        headers.insert("x-other", HeaderValue::from_static("ignored"));
        let report = report(&headers);
        assert_eq!(report["headers"]["x-auth-user-id"], "u1");
        assert_eq!(
            report["headers"]["x-auth-upstream-token"],
            "sha256:2bb80d53"
        );
        assert!(report["headers"].get("x-other").is_none());
        assert_eq!(report["authorization_header_present"], false);
    }
}
