//! The shared HTTP client for upstream calls and the small helpers every adapter uses.

use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

use super::UpstreamError;

/// Largest upstream response body we read (token responses, userinfo, discovery, JWKS).
pub const MAX_BODY: usize = 256 * 1024;

/// No redirects (a redirect from an IdP endpoint is either a misconfiguration or an attack),
/// bounded timeouts, pooled connections.
pub fn client() -> reqwest::Client {
    builder().build().unwrap_or_default()
}

/// [`client`] resolving names through `resolver` (the SSRF guard, [`crate::net_guard`]). A
/// client that cannot be built is an error: silently falling back would drop the guard.
pub fn guarded_client<R: reqwest::dns::Resolve + 'static>(
    resolver: std::sync::Arc<R>,
) -> reqwest::Result<reqwest::Client> {
    builder().dns_resolver(resolver).build()
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("mcp-auth-bridge/", env!("CARGO_PKG_VERSION")))
}

/// Reads a response body up to [`MAX_BODY`] bytes.
pub async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UpstreamError::from_transport(&e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(UpstreamError::Protocol("response body too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// GET a JSON document, optionally with a bearer token; non-2xx statuses are classified.
pub async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    bearer: Option<&str>,
) -> Result<T, UpstreamError> {
    let mut request = http
        .get(url)
        .headers(crate::telemetry::trace_context::current_headers())
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| UpstreamError::from_transport(&e))?;
    let status = response.status();
    let retry = retry_after(&response);
    let body = read_body(response).await?;
    if !status.is_success() {
        return Err(UpstreamError::from_status(status, retry, None));
    }
    serde_json::from_slice(&body)
        .map_err(|_| UpstreamError::Protocol("response is not the expected JSON".into()))
}
