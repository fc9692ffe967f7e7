//! Reading the bearer token of a request (RFC 6750 2.1), shared by the gateway, userinfo and
//! the dev IdP: one parser, so every surface accepts and refuses the same headers.

use axum::http::{HeaderMap, header};

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive,
/// an empty token is none.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
