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
    /// The bridge's own database is unavailable: retry later, do not re-authorize. Answered by
    /// [`database_unavailable`] (a JSON-RPC error when the request's id is known), not here.
    DatabaseUnavailable,
    /// A bug (logged where it happened): 500.
    Internal,
}

/// JSON-RPC 2.0 "Internal error", the code MCP clients already show; `data` says what it was.
const JSONRPC_INTERNAL_ERROR: i64 = -32603;

/// 503 with `Retry-After` for a gateway request that failed because the bridge's database is
/// unavailable: a JSON-RPC error envelope carrying the request's `id` when the request was a
/// JSON-RPC request (so the client reports it against the right call), else the OAuth-style
/// `temporarily_unavailable` object. No `WWW-Authenticate`: the token is fine, only retry.
pub fn database_unavailable(rpc_id: Option<&serde_json::Value>) -> Response {
    use crate::store::unavailable::{MESSAGE, RETRY_AFTER_SECS};
    let body = match rpc_id {
        Some(id) => json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": JSONRPC_INTERNAL_ERROR,
                "message": MESSAGE,
                "data": { "status": 503, "kind": "database_unavailable" },
            },
        }),
        None => json!({"error": "temporarily_unavailable", "error_description": MESSAGE}),
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// Where the protected-resource metadata of this server is, and the scopes it offers.
pub struct Resource<'a> {
    pub metadata_url: &'a str,
    pub scopes: &'a [String],
}

impl Resource<'static> {
    /// For answers that name no resource (the target itself could not be resolved).
    pub const NONE: Resource<'static> = Resource {
        metadata_url: "",
        scopes: &[],
    };
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
            Challenge::DatabaseUnavailable => return database_unavailable(None),
            Challenge::Internal => {
                let body = json!({"error": "server_error", "error_description": "internal error; see the server log"});
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
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
    fn a_database_outage_is_a_503_json_rpc_error_with_the_request_id_and_no_challenge() {
        let r = database_unavailable(Some(&json!(7)));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
        assert!(!r.headers().contains_key(header::WWW_AUTHENTICATE));
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
