//! Bearer failures in the shape MCP clients act on (RFC 6750 section 3, RFC 9728 section 5.1):
//! `401` with `WWW-Authenticate: Bearer resource_metadata="…"` so a client without a token can
//! discover where to get one, `error="invalid_token"` when the token is bad or the user must
//! authorize again, `403 insufficient_scope` with the scope needed (step-up).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// Why a request through the gateway was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No credentials: just tell the client where the metadata is.
    Missing,
    InvalidToken(&'static str),
    InsufficientScope(String),
    /// The upstream is down: retry later, do not re-authorize.
    Unavailable(u64),
}

/// Where the protected-resource metadata of this server is, and the scopes it offers.
pub struct Resource<'a> {
    pub metadata_url: &'a str,
    pub scopes: &'a [String],
}

fn quote(value: &str) -> String {
    value.replace(['"', '\\'], "")
}

impl Challenge {
    pub fn into_response(self, resource: &Resource<'_>) -> Response {
        let scope = resource.scopes.join(" ");
        let mut parts = vec![format!(
            "resource_metadata=\"{}\"",
            quote(resource.metadata_url)
        )];
        let (status, error, description) = match &self {
            Challenge::Missing => {
                parts.push(format!("scope=\"{}\"", quote(&scope)));
                (
                    StatusCode::UNAUTHORIZED,
                    None,
                    "a bearer token is required".to_string(),
                )
            }
            Challenge::InvalidToken(why) => {
                parts.push("error=\"invalid_token\"".into());
                parts.push(format!("error_description=\"{why}\""));
                (
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    (*why).to_string(),
                )
            }
            Challenge::InsufficientScope(needed) => {
                parts.push("error=\"insufficient_scope\"".into());
                parts.push(format!("scope=\"{}\"", quote(needed)));
                parts.push(
                    "error_description=\"the token lacks a scope this server requires\"".into(),
                );
                (
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    format!("scope needed: {needed}"),
                )
            }
            Challenge::Unavailable(_) => {
                let body = json!({"error": "temporarily_unavailable", "error_description": "the identity provider is unavailable; retry later"});
                let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
                if let Challenge::Unavailable(secs) = self {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                return r;
            }
        };
        let body =
            json!({"error": error.unwrap_or("invalid_request"), "error_description": description});
        let mut response = (status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", parts.join(", "))) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(c: Challenge) -> (StatusCode, String) {
        let scopes = vec!["mcp".to_string()];
        let r = c.into_response(&Resource {
            metadata_url: "https://as/.well-known/oauth-protected-resource/t/a/mcp/x",
            scopes: &scopes,
        });
        (
            r.status(),
            r.headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn a_missing_token_gets_the_metadata_url_and_scope() {
        let (status, h) = header_of(Challenge::Missing);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            h,
            "Bearer resource_metadata=\"https://as/.well-known/oauth-protected-resource/t/a/mcp/x\", scope=\"mcp\""
        );
    }

    #[test]
    fn an_invalid_token_names_the_error() {
        let (status, h) = header_of(Challenge::InvalidToken("expired"));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            h.contains("error=\"invalid_token\"") && h.contains("error_description=\"expired\""),
            "{h}"
        );
    }

    #[test]
    fn a_missing_scope_is_403_with_the_scope_needed() {
        let (status, h) = header_of(Challenge::InsufficientScope("mcp:admin".into()));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            h.contains("error=\"insufficient_scope\"") && h.contains("scope=\"mcp:admin\""),
            "{h}"
        );
    }
}
