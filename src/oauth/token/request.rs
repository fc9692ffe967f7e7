//! The `/token` request typed: the grant type parsed from its parameter, then the parameters
//! that grant needs, so the grant handlers receive fields instead of a bag of strings.
//!
//! Two steps, in the order the endpoint has always answered: an unknown `grant_type` is refused
//! before client authentication, a missing grant parameter only after it (a client that failed
//! to authenticate learns nothing about its request).

use super::super::params::Params;
use crate::{
    domain::GrantType,
    error::{ErrorCode, OAuthError},
};

/// The `grant_type` parameter: required, and one the bridge implements.
pub fn grant_type(params: &Params) -> Result<GrantType, OAuthError> {
    let raw = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    GrantType::parse(raw).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "supported: authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:token-exchange",
        )
    })
}

/// A grant request of an authenticated client (token exchange authenticates an MCP server
/// instead, and reads its own parameters: `super::token_exchange`).
pub enum GrantRequest<'a> {
    AuthorizationCode(CodeRequest<'a>),
    RefreshToken(RefreshRequest<'a>),
}

/// RFC 6749 section 4.1.3 with PKCE (RFC 7636 section 4.5) and RFC 8707 `resource`.
pub struct CodeRequest<'a> {
    pub code: &'a str,
    pub code_verifier: &'a str,
    pub redirect_uri: &'a str,
    pub resource: Option<&'a str>,
}

/// RFC 6749 section 6 with RFC 8707 `resource`. `scope` stays raw: it is judged against the
/// token's grant (`invalid_scope`) only once the token is known to be good.
pub struct RefreshRequest<'a> {
    pub refresh_token: &'a str,
    pub scope: Option<&'a str>,
    pub resource: Option<&'a str>,
}

fn required<'a>(
    params: &'a Params,
    name: &str,
    message: &'static str,
) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .ok_or_else(|| OAuthError::invalid_request(message))
}

impl<'a> GrantRequest<'a> {
    pub fn parse(grant_type: GrantType, params: &'a Params) -> Result<Self, OAuthError> {
        Ok(match grant_type {
            GrantType::AuthorizationCode => Self::AuthorizationCode(CodeRequest {
                code: required(params, "code", "code is required")?,
                code_verifier: required(
                    params,
                    "code_verifier",
                    "code_verifier is required (PKCE)",
                )?,
                redirect_uri: required(params, "redirect_uri", "redirect_uri is required")?,
                resource: params.get("resource"),
            }),
            GrantType::RefreshToken => Self::RefreshToken(RefreshRequest {
                refresh_token: required(params, "refresh_token", "refresh_token is required")?,
                scope: params.get("scope"),
                resource: params.get("resource"),
            }),
            // Dispatched before client authentication (`super::token`); never reaches here.
            GrantType::TokenExchange => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "token exchange is not a client grant",
                ));
            }
        })
    }
}
