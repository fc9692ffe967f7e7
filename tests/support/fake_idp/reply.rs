//! Response shapes: RFC 6749 §5.2 errors (GitHub's 200-status variant), token responses as JSON
//! or form, bearer challenges (RFC 6750 §3) and the 400 page of `/authorize`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::{Value, json};

use super::ProviderMode;

const GITHUB_ERROR_DOCS: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

/// An OAuth error of the token or revocation endpoint.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: &'static str,
    /// GitHub's name for this error, where it differs from RFC 6749's.
    pub github_error: Option<&'static str>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        OAuthError {
            status,
            error,
            description,
            github_error: None,
        }
    }
    pub fn github_as(mut self, name: &'static str) -> Self {
        self.github_error = Some(name);
        self
    }
    pub fn bad_request(error: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }
    pub fn invalid_grant(description: &'static str) -> Self {
        Self::bad_request("invalid_grant", description)
    }
    pub fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }

    /// GitHub answers protocol errors with status 200 and its own error names.
    pub fn render(self, mode: ProviderMode, accepts_json: bool) -> Response {
        if let ProviderMode::Github { .. } = mode {
            let body = json!({
                "error": self.github_error.unwrap_or(github_error_name(self.error)),
                "error_description": self.description,
                "error_uri": GITHUB_ERROR_DOCS,
            });
            return token_body(mode, accepts_json, StatusCode::OK, &body);
        }
        let mut response = no_store(
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Basic realm=\"fake-idp\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

fn github_error_name(error: &str) -> &str {
    match error {
        "invalid_grant" => "bad_verification_code",
        "invalid_client" => "incorrect_client_credentials",
        other => other,
    }
}

/// A server-side failure injected by the test (500, 503, 429 with `Retry-After: 1`, …).
pub fn injected_fault(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error = match status {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
            "temporarily_unavailable"
        }
        _ => "server_error",
    };
    let mut response = no_store(status, Json(json!({ "error": error })));
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry = HeaderValue::from_static("1");
        response.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    response
}

/// A token-endpoint body: JSON, or (GitHub without `Accept: application/json`) a form.
pub fn token_body(
    mode: ProviderMode,
    accepts_json: bool,
    status: StatusCode,
    body: &Value,
) -> Response {
    let github = matches!(mode, ProviderMode::Github { .. });
    if !github || accepts_json {
        return no_store(status, Json(body.clone()));
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in body.as_object().into_iter().flatten() {
        match value {
            Value::String(s) => form.append_pair(key, s),
            Value::Null => &mut form,
            other => form.append_pair(key, &other.to_string()),
        };
    }
    let content_type = [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")];
    no_store(status, (content_type, form.finish()))
}

fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 6750 §3.1: unknown, expired or revoked bearer token.
pub fn invalid_token(mode: ProviderMode) -> Response {
    let body = match mode {
        ProviderMode::Github { .. } => json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
        }),
        _ => {
            json!({ "error": "invalid_token", "error_description": "token unknown, expired or revoked" })
        }
    };
    let challenge = HeaderValue::from_static("Bearer error=\"invalid_token\"");
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// What `/authorize` shows when it must not redirect (bad client, redirect URI or PKCE).
pub fn error_page(reason: &'static str) -> Response {
    let page =
        format!("<!doctype html><title>Login error</title><h1>Invalid request</h1><p>{reason}</p>");
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}
