//! Identity headers a client must not send: the gateway's own `X-Auth-*` and the conventions
//! other proxies use for "who is this", removed from every forwarded request before the
//! gateway adds its own (`identity.rs`).
//!
//! Checked on every header of every request, so the check allocates nothing: `_` is compared
//! as `-` byte by byte rather than by rewriting the name.

use http::{HeaderMap, HeaderName};

/// Every request header starting with this (case-insensitively: header names are lowercase in
/// `http`) belongs to the gateway; whatever a client sent under it is removed.
const IDENTITY_PREFIX: &str = "x-auth-";

/// Other proxies' identity headers, matched whole (oauth2-proxy, Apache, nginx).
const OTHER_PROXIES: [&str; 7] = [
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-access-token",
    "remote-user",
    "x-remote-user",
];

/// Clients must not inject identity: every header an MCP server might read as "who is this"
/// goes, whoever set it (see [`is_identity_header`]).
pub(super) fn remove_identity_headers(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_identity_header(name.as_str()))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// Whether `name` (lowercase, as `http` stores it) is, or reads as, an identity header: the
/// gateway's own `x-auth-*`, and the conventions of oauth2-proxy (`x-forwarded-user`, `…-email`,
/// `…-preferred-username`, `…-groups`, `…-access-token`), Apache and nginx (`remote-user`,
/// `x-remote-user`) and home-grown `x-user*` that MCP servers behind other proxies read. `_` is
/// read as `-` because CGI/WSGI backends map both to `_` (`X_Auth_Subject` would arrive as
/// `HTTP_X_AUTH_SUBJECT`); the proxy drops every underscore header anyway.
pub(super) fn is_identity_header(name: &str) -> bool {
    let name = name.as_bytes();
    starts_with(name, IDENTITY_PREFIX)
        || starts_with(name, "x-user")
        || OTHER_PROXIES
            .iter()
            .any(|known| known.len() == name.len() && starts_with(name, known))
}

/// Whether `name` starts with `prefix`, an `_` in `name` standing for a `-`.
fn starts_with(name: &[u8], prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .iter()
            .zip(prefix.as_bytes())
            .all(|(&got, &want)| got == want || (got == b'_' && want == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_conventions_of_other_proxies_and_underscore_forms_are_identity_headers() {
        for name in [
            "x-auth-subject",
            "x_auth_subject",
            "x-forwarded-user",
            "x_forwarded_email",
            "x-forwarded-preferred-username",
            "x-forwarded-groups",
            "x-forwarded-access-token",
            "remote-user",
            "remote_user",
            "x-remote-user",
            "x-user",
            "x-user-id",
            "x_userid",
        ] {
            assert!(is_identity_header(name), "{name}");
        }
        for name in [
            "mcp-session-id",
            "x-forwarded-for",
            "x-forwarded-user-agent",
            "remote-users",
            "accept",
            "x-request-id",
        ] {
            assert!(!is_identity_header(name), "{name}");
        }
    }
}
