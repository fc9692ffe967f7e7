//! `POST /t/{tenant}/token`: one grant type per file; this file parses the request strictly,
//! authenticates the client and dispatches on `grant_type`.

pub mod authorization_code;
pub mod client_auth;
pub mod issue;
pub mod refresh_token;
pub mod request;
pub mod token_exchange;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::{body::Body, params::Params};
use crate::{
    domain::GrantType,
    error::{ErrorCode, OAuthError},
    oauth::OAuthState,
};
use request::GrantRequest;

pub async fn token(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let params = form(&headers, &body)?;
    let grant_type = request::grant_type(&params)?;
    if grant_type == GrantType::TokenExchange {
        let body = token_exchange::exchange(&state, &ctx, &headers, &params).await?;
        return Ok(no_store(Json(body).into_response()));
    }
    let client = client_auth::authenticate(&state, &ctx, &headers, &params).await?;
    if !client.allows(grant_type) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use this grant type",
        ));
    }
    state
        .clients
        .touch(&state.pool, client.id, chrono::Utc::now())
        .await?;
    let response = match GrantRequest::parse(grant_type, &params)? {
        GrantRequest::AuthorizationCode(request) => {
            authorization_code::exchange(&state, &ctx, &client, &request).await?
        }
        GrantRequest::RefreshToken(request) => {
            refresh_token::exchange(&state, &ctx, &client, &request).await?
        }
    };
    Ok(no_store(Json(response).into_response()))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The body as form parameters; any other content type is refused.
pub fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Params::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}
