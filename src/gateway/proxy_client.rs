//! The proxy's HTTP client to MCP servers and how its failures are told apart: pooled
//! connections (HTTP/1.1, http or https) that follow no redirect and decompress nothing, and a
//! failed send classified as a connect timeout, an unreachable server or a protocol error.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use hyper_util::client::legacy::connect::HttpConnector;

use super::{
    upstream_client::{SendError, UpstreamClient},
    upstream_error::Failure,
    upstream_pool::Pool,
};
use crate::config::GatewayConfig;

/// Idle pooled connections are closed after this; MCP clients often pause between calls.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per MCP server.
const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// Finds MCP servers that vanished under a long-lived SSE stream without closing it.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
/// A pooled HTTP/1.1 client (http or https, Mozilla's roots) over `http` (whose resolver
/// decides which addresses may be reached) that never follows redirects (a redirect is the MCP
/// server's answer to the client), never decompresses (bodies pass as sent), and ignores
/// `HTTP_PROXY`-style variables (MCP servers are reached directly).
pub(super) fn client<R>(config: &GatewayConfig, mut http: HttpConnector<R>) -> UpstreamClient<R>
where
    R: tower::Service<hyper_util::client::legacy::connect::dns::Name>
        + Clone
        + Send
        + Sync
        + 'static,
    R::Response: Iterator<Item = SocketAddr>,
    R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    R::Future: Send,
{
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.connect_timeout.get()));
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let tls = builder
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .unwrap_or_else(|error| {
            // Only a provider without TLS 1.2/1.3 support fails; ring has both.
            tracing::error!(%error, "gateway TLS set-up failed; using the default provider");
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots()
        });
    let connector = tls.https_or_http().enable_http1().wrap_connector(http);
    UpstreamClient::new(
        connector,
        Pool::new(POOL_MAX_IDLE_PER_HOST, POOL_IDLE_TIMEOUT),
    )
}

/// Why the send failed: the body stream's own verdict first, then what hyper saw.
pub(super) fn classify(error: &SendError, fault: Option<&OnceLock<Failure>>) -> Failure {
    if let Some(failure) = fault.and_then(OnceLock::get) {
        return *failure;
    }
    let (failure, error): (_, &(dyn std::error::Error + 'static)) = match error {
        SendError::Connect(error) if timed_out(&**error) => (Failure::ConnectTimeout, &**error),
        SendError::Connect(error) => (Failure::Unavailable, &**error),
        SendError::Http(error) => (Failure::Protocol, error),
    };
    tracing::warn!(kind = failure.kind(), cause = %cause(error), "MCP server request failed");
    failure
}

/// Whether an I/O timeout is among the error's causes (the connector's `connect_timeout`).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    // Bounded: error chains are short, and this stops at eight links regardless.
    for _ in 0..8 {
        let Some(error) = source else { break };
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// The error and its causes (none of which names the URL: hyper's errors do not).
pub(super) fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut causes = vec![error.to_string()];
    let mut source = error.source();
    // Bounded: error chains are short, and this stops at eight links regardless.
    while let Some(error) = source.filter(|_| causes.len() < 8) {
        causes.push(error.to_string());
        source = error.source();
    }
    causes.join(": ")
}
