//! Token revocation: RFC 7009 form POST for every mode, plus GitHub's
//! `DELETE /applications/{client_id}/token` with a JSON `{"access_token": …}` body.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    ProviderMode,
    reply::OAuthError,
    request::{ClientCredentials, client_credentials, parse_form},
    state::{Shared, bump},
};

pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bump(&shared.counters.revoke);
    let result = match method {
        Method::DELETE => github_delete(&shared, &headers, &body),
        _ => rfc7009(&shared, &headers, &body),
    };
    match result {
        Ok(status) => status.into_response(),
        // Revocation errors are plain RFC 6749 JSON in every mode, GitHub included.
        Err(error) => error.render(ProviderMode::Oidc, true),
    }
}

fn rfc7009(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<StatusCode, OAuthError> {
    let params = parse_form(headers, body)?;
    match client_credentials(headers, &params)? {
        ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret }
            if id == shared.client_id && secret == shared.client_secret => {}
        // Google's revocation endpoint takes the bare token.
        ClientCredentials::None { .. } if shared.mode == ProviderMode::Google => {}
        _ => return Err(OAuthError::invalid_client()),
    }
    let token = params.get("token").filter(|t| !t.is_empty());
    let token = token.ok_or(OAuthError::bad_request(
        "invalid_request",
        "token is required",
    ))?;
    // RFC 7009 §2.2: unknown tokens are answered 200 too.
    shared.revoke(token, shared.mode == ProviderMode::Google);
    Ok(StatusCode::OK)
}

fn github_delete(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<StatusCode, OAuthError> {
    let no_params = Default::default();
    match client_credentials(headers, &no_params)? {
        ClientCredentials::Basic { id, secret }
            if id == shared.client_id && secret == shared.client_secret => {}
        _ => return Err(OAuthError::invalid_client()),
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| OAuthError::bad_request("invalid_request", "JSON body expected"))?;
    let token = body.get("access_token").and_then(Value::as_str);
    let token = token.ok_or(OAuthError::bad_request(
        "invalid_request",
        "access_token required",
    ))?;
    shared.revoke(token, false);
    Ok(StatusCode::NO_CONTENT)
}

impl Shared {
    /// Revokes `token`. A refresh token takes its whole grant with it; an access token takes its
    /// grant only when `whole_grant` (Google revokes the grant either way).
    pub fn revoke(&self, token: &str, whole_grant: bool) {
        let mut inner = self.inner();
        let family = if let Some(record) = inner.refresh.get(token) {
            Some(record.family)
        } else if let Some(record) = inner.access.get_mut(token) {
            record.revoked = true;
            whole_grant.then_some(record.family)
        } else {
            None
        };
        if let Some(family) = family {
            inner
                .refresh
                .values_mut()
                .filter(|r| r.family == family)
                .for_each(|r| r.revoked = true);
            inner
                .access
                .values_mut()
                .filter(|a| a.family == family)
                .for_each(|a| a.revoked = true);
        }
    }
}
