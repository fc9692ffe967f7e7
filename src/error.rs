//! Errors as each surface shows them: RFC 6749 section 5.2 JSON for the OAuth endpoints, an HTML
//! page for browser-facing failures that must not redirect. Internal errors are logged with
//! context here and reach clients only as a generic message.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde::Serialize;

use crate::store::unavailable;

/// RFC 6749 / 7591 / 8707 / 6750 error codes the bridge emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    InvalidTarget,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidToken => "invalid_token",
        }
    }

    /// The status RFC 6749 section 5.2 (and RFC 6750 / 7591) give each code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An OAuth error response. Build it with a code and a description meant for the client
/// developer; never put internal error text in the description.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    status: Option<StatusCode>,
    www_authenticate: Option<String>,
    retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            status: None,
            www_authenticate: None,
            retry_after: None,
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    /// `invalid_client` with the `WWW-Authenticate` challenge RFC 6749 asks for.
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
            .with_www_authenticate("Basic realm=\"mcp-auth-bridge\"".into())
    }

    /// Logs `error` with its context and returns a generic `server_error`.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, context, "internal error");
        Self::new(ErrorCode::ServerError, "internal error; see the server log")
    }

    pub fn unavailable(description: &'static str, retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::TemporarilyUnavailable, description);
        e.retry_after = Some(retry_after_secs);
        e
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_www_authenticate(mut self, value: String) -> Self {
        self.www_authenticate = Some(value);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.code.status())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(value) = self
            .www_authenticate
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl OAuthError {
    /// A database failure: `temporarily_unavailable` (503, `Retry-After`) when the database is
    /// unavailable (RFC 6749 section 4.1.2.1 / 5.2 usage), else a logged `server_error`.
    pub fn database(context: &str, e: impl Into<crate::store::StoreError>) -> Self {
        let e = e.into();
        if e.is_unavailable() {
            unavailable::record("oauth", context, &e);
            return Self::unavailable(unavailable::MESSAGE, unavailable::RETRY_AFTER_SECS);
        }
        Self::internal(context, &e)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::database("store", e)
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        Self::database("database", e)
    }
}

/// A browser-facing error that must not redirect (unknown client, unregistered redirect URI,
/// expired authorization): a small server-rendered page.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: Cow<'static, str>,
}

impl ErrorPage {
    pub fn new(
        status: StatusCode,
        title: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, context, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again later.",
        )
    }
}

impl ErrorPage {
    /// The IdP cannot be reached to start a login (discovery failed, a bad endpoint): logged
    /// with the provider and what was being done, a 502 page for the user.
    pub fn idp_unreachable(
        provider: &str,
        during: &'static str,
        error: &dyn std::fmt::Display,
    ) -> Self {
        tracing::warn!(%error, provider, during, "cannot reach upstream");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in unavailable",
            "The identity provider cannot be reached right now. Please try again.",
        )
    }

    /// A database failure: a 503 page with `Retry-After` when the database is unavailable,
    /// else a logged 500.
    pub fn database(context: &str, e: impl Into<crate::store::StoreError>) -> Self {
        let e = e.into();
        if e.is_unavailable() {
            unavailable::record("page", context, &e);
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service's database is unavailable. Please try again in a moment.",
            );
        }
        Self::internal(context, &e)
    }
}

impl From<crate::store::StoreError> for ErrorPage {
    fn from(e: crate::store::StoreError) -> Self {
        Self::database("store", e)
    }
}

impl From<sqlx::Error> for ErrorPage {
    fn from(e: sqlx::Error) -> Self {
        Self::database("database", e)
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let html = crate::pages::error_page(self.title, &self.message);
        let mut response = (self.status, Html(html)).into_response();
        let headers = response.headers_mut();
        crate::pages::harden(headers);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(unavailable::RETRY_AFTER_SECS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_maps_to_the_status_rfc_6749_gives_it() {
        assert_eq!(ErrorCode::InvalidClient.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(ErrorCode::InvalidGrant.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::UnsupportedGrantType.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ErrorCode::ServerError.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_database_outage_is_temporarily_unavailable_with_retry_after_naming_the_database() {
        let e = OAuthError::from(crate::store::StoreError::Sqlx(sqlx::Error::PoolTimedOut));
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        assert!(e.description.contains("database"), "{}", e.description);
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn a_database_bug_is_still_a_server_error() {
        let e = OAuthError::from(crate::store::StoreError::Sqlx(sqlx::Error::RowNotFound));
        assert_eq!(e.code, ErrorCode::ServerError);
    }

    #[test]
    fn an_oauth_error_is_json_with_no_store_and_a_challenge_for_invalid_client() {
        let response = OAuthError::invalid_client("bad secret").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert!(
            response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
}
