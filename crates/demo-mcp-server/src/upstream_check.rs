//! Upstream check mode: mimics an MCP server whose upstream API (Jira, Salesforce, …) rejects
//! the user's token, so the gateway's refresh-on-401 path can be tested end to end.

use http::{HeaderMap, StatusCode};

use super::{error::TransportError, handle::Counter, state::Shared};

/// The request header carrying the user's upstream access token, set by the gateway.
pub const UPSTREAM_TOKEN_HEADER: &str = "x-auth-upstream-token";

/// With an upstream check URL configured, calls it with the upstream token as a bearer token:
/// a missing token or a `401` there is a `401` here; an unreachable upstream is a `502`; any
/// other answer lets the request through.
pub(super) async fn check(shared: &Shared, headers: &HeaderMap) -> Result<(), TransportError> {
    let Some(url) = &shared.options.upstream_check_url else {
        return Ok(());
    };
    let token = headers
        .get(UPSTREAM_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        shared.handle.bump(Counter::UpstreamRejections);
        return Err(TransportError::UpstreamRejected);
    };
    shared.handle.bump(Counter::UpstreamChecks);
    match shared.http.get(url.clone()).bearer_auth(token).send().await {
        Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
            shared.handle.bump(Counter::UpstreamRejections);
            Err(TransportError::UpstreamRejected)
        }
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(error = %error, "upstream check failed");
            Err(TransportError::UpstreamUnavailable)
        }
    }
}
