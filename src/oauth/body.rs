//! The request edge of the machine endpoints (`/token`, `/revoke`, `/introspect`) in the
//! protocol's own shape: an unreadable or oversized body and a wrong method are answered with
//! RFC 6749 section 5.2 JSON, not axum's plain-text or empty defaults, so clients that parse
//! `error` always find one.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::error::{ErrorCode, OAuthError};

/// The raw request body, within the configured limit (`DefaultBodyLimit`); beyond it a JSON
/// `invalid_request` with status 413.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(OAuthError::invalid_request("the request body is too large")
                    .with_status(StatusCode::PAYLOAD_TOO_LARGE))
            }
            Err(_) => Err(OAuthError::invalid_request(
                "the request body could not be read",
            )),
        }
    }
}

/// Any method but `POST` on an endpoint that only takes `POST` (RFC 6749 section 3.2: "The client
/// MUST use the HTTP POST method"): 405 with `Allow` and an RFC 6749 JSON body.
pub async fn post_only(method: Method) -> Response {
    let description = format!("{method} is not allowed here; use POST");
    let mut response = OAuthError::new(ErrorCode::InvalidRequest, description)
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
