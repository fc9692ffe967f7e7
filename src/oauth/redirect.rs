//! Sending the browser back to the client: an authorization response or an error response,
//! always with `state` and the RFC 9207 `iss`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use url::Url;

use crate::error::ErrorCode;

/// A redirect to an already-validated redirect URI. 302 for GET flows; the consent POST uses
/// 303 so the browser does not re-send the form. Never 307 (RFC 9700 section 4.12).
pub fn to_client(redirect_uri: &str, params: &[(&str, &str)], status: StatusCode) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect URI").into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    let mut response = status.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An RFC 6749 section 4.1.2.1 error response.
pub fn error(
    redirect_uri: &str,
    code: ErrorCode,
    description: &str,
    state: Option<&str>,
    issuer: &str,
    status: StatusCode,
) -> Response {
    let mut params = vec![("error", code.as_str()), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    to_client(redirect_uri, &params, status)
}
