//! The reverse proxy to MCP servers (Streamable HTTP, SSE included), independent of how the
//! request was authenticated: the auth layer hands over an [`Identity`] and the MCP server's URL.
//!
//! Bodies stream both ways. The only timeouts are `connect_timeout` and `first_byte_timeout`
//! (until the response head): after that a `GET` SSE stream stays open for as long as both the
//! client and the MCP server keep it, and each chunk is passed on as it arrives.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Request},
    response::Response,
};
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::{HttpConnector, dns::GaiResolver};
use tokio::time::Instant;
use url::Url;

use super::{
    body::{self, Outbound, Plan},
    headers::{self, Peer},
    proxy_client::{cause, classify, client},
    stream_end::Draining,
    target::{BadTarget, target},
    upstream_body::UpstreamBody,
    upstream_client::{UpstreamClient, addressed},
    upstream_error::{Failure, rpc_id},
    upstream_metrics::UpstreamMetrics,
};
use crate::{
    config::GatewayConfig,
    net_guard::{Cidr, GuardedResolver, UpstreamGuard},
};

pub use super::identity::{Identity, IdentityHeaders};

/// What MCP uses, plus `HEAD`/`OPTIONS`. `TRACE` in particular would echo the identity headers
/// (and the upstream token) back to the client.
const ALLOWED_METHODS: [Method; 5] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
];

/// A request extension the gateway sets when the MCP server was created through the admin API:
/// its connections then go through the [`UpstreamGuard`] (a name is checked each time it is
/// resolved, so DNS rebinding after the admin API's write-time check is caught).
#[derive(Clone, Copy, Debug)]
pub struct AdminConfigured;

/// The gateway's HTTP client to MCP servers and its limits. Cheap to clone (the connection
/// pool is shared).
#[derive(Clone, Debug)]
pub struct Proxy {
    client: UpstreamClient<GaiResolver>,
    /// The same client for admin-API MCP servers, resolving through the guard.
    guarded: UpstreamClient<GuardedResolver>,
    guard: UpstreamGuard,
    metrics: Arc<UpstreamMetrics>,
    trusted_proxies: Arc<[Cidr]>,
    first_byte_timeout: Duration,
    max_body_bytes: usize,
    replay_buffer_bytes: usize,
    /// Relayed SSE streams end at an event boundary once this starts (shutdown).
    draining: Draining,
}

/// The outcome of [`Proxy::forward_replayable`].
#[derive(Debug)]
pub enum Forwarded {
    /// Anything but a `401` from the MCP server, or a gateway error (502, 504, 413…).
    Done(Response),
    /// The MCP server answered `401` (its upstream API rejected the user's token). `replay` is
    /// there when the request body was small enough to keep; drop `response` to replay.
    Unauthorized {
        response: Response,
        replay: Option<Replay>,
    },
}

/// A request that can be sent once more, with a fresh identity (a refreshed upstream token).
/// Boxed inside, so a `Forwarded` stays as small as a `Response`.
pub struct Replay(Box<(Outgoing, Outbound)>);

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("method", &self.0.0.method)
            .field("body_bytes", &self.0.1.buffered().map_or(0, |b| b.len()))
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// Sends the request again with `identity`'s headers; the answer is relayed whatever it is.
    pub async fn send(self, proxy: &Proxy, identity: &IdentityHeaders) -> Response {
        let (outgoing, body) = *self.0;
        proxy.attempt(outgoing, body, identity).await
    }
}

/// A request ready for the MCP server, except for identity and body. Its headers are already
/// cleaned, so a replay reuses them.
#[derive(Clone)]
struct Outgoing {
    method: Method,
    url: Url,
    headers: HeaderMap,
    /// The buffered body of a JSON `POST`: a failure is answered as a JSON-RPC error for its
    /// `id`, which is read only then (most requests never need it).
    json: Option<Bytes>,
    /// Whether the MCP server came from the admin API ([`AdminConfigured`]).
    guarded: bool,
}

/// What the body is kept for.
#[derive(Clone, Copy)]
enum Purpose {
    Forward,
    Replay,
}

impl Proxy {
    /// Two pooled clients (see [`super::proxy_client`]): one for configuration-file MCP servers, one that
    /// resolves through the SSRF guard for admin-API ones (allowing no exception until
    /// [`Proxy::with_network`]). Trusts no peer's forwarding headers.
    pub fn new(config: &GatewayConfig) -> Self {
        let guard = UpstreamGuard::default();
        Self {
            client: client(config, HttpConnector::new_with_resolver(GaiResolver::new())),
            guarded: client(
                config,
                HttpConnector::new_with_resolver(GuardedResolver::new(guard.clone())),
            ),
            guard,
            metrics: Arc::default(),
            trusted_proxies: Arc::from([]),
            first_byte_timeout: config.first_byte_timeout.get(),
            max_body_bytes: config.max_body_bytes,
            replay_buffer_bytes: config.replay_buffer_bytes,
            draining: Draining::default(),
        }
    }

    /// The same proxy, ending relayed SSE streams when `draining` starts.
    pub fn ending_streams_on(self, draining: Draining) -> Self {
        Self { draining, ..self }
    }

    /// The same proxy believing forwarding headers from `trusted_proxies`
    /// (`server.trusted_proxies`) and guarding admin-API MCP servers with `guard`
    /// (`admin.allowed_upstream_hosts`). [`Proxy::new`] trusts no one and allows no exception.
    pub fn with_network(
        mut self,
        config: &GatewayConfig,
        trusted_proxies: &[Cidr],
        guard: UpstreamGuard,
    ) -> Self {
        self.guarded = client(
            config,
            HttpConnector::new_with_resolver(GuardedResolver::new(guard.clone())),
        );
        self.guard = guard;
        self.trusted_proxies = trusted_proxies.into();
        self
    }

    /// Forwards `request` to `upstream` + `rest` + the original query and relays the answer.
    ///
    /// `rest` is the percent-decoded path below `/t/{t}/mcp/{server}` as axum's `Path` gives it
    /// (may be empty). Never fails: gateway errors are answered as JSON (502, 504, 413, 400, 405).
    pub async fn forward(
        &self,
        request: Request,
        upstream: &Url,
        rest: &str,
        identity: &IdentityHeaders,
    ) -> Response {
        match self
            .prepare(request, upstream, rest, Purpose::Forward)
            .await
        {
            Ok((outgoing, body)) => self.attempt(outgoing, body, identity).await,
            Err(response) => response,
        }
    }

    /// Like [`Proxy::forward`], but says whether the MCP server answered `401` and then keeps a
    /// replayable copy of the request when its body fit in `replay_buffer_bytes`.
    pub async fn forward_replayable(
        &self,
        request: Request,
        upstream: &Url,
        rest: &str,
        identity: &IdentityHeaders,
    ) -> Forwarded {
        let (outgoing, body) = match self.prepare(request, upstream, rest, Purpose::Replay).await {
            Ok(prepared) => prepared,
            Err(response) => return Forwarded::Done(response),
        };
        let kept = body
            .try_clone()
            .map(|body| Replay(Box::new((outgoing.clone(), body))));
        let json = outgoing.json.clone();
        match self.send(outgoing, body, identity).await {
            Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                Forwarded::Unauthorized {
                    response: relay(response, &self.draining),
                    replay: kept,
                }
            }
            Ok(response) => Forwarded::Done(relay(response, &self.draining)),
            Err(failure) => Forwarded::Done(fail(failure, json.as_deref())),
        }
    }

    async fn attempt(
        &self,
        outgoing: Outgoing,
        body: Outbound,
        identity: &IdentityHeaders,
    ) -> Response {
        let json = outgoing.json.clone();
        match self.send(outgoing, body, identity).await {
            Ok(response) => relay(response, &self.draining),
            Err(failure) => fail(failure, json.as_deref()),
        }
    }

    /// Checks method, path and body size, cleans the headers, and reads the body as far as
    /// `purpose` needs. A refusal is the finished response.
    async fn prepare(
        &self,
        request: Request,
        upstream: &Url,
        rest: &str,
        purpose: Purpose,
    ) -> Result<(Outgoing, Outbound), Response> {
        let (parts, body) = request.into_parts();
        if !ALLOWED_METHODS.contains(&parts.method) {
            return Err(fail(Failure::MethodNotAllowed, None));
        }
        let url = target(upstream, rest, parts.uri.query()).map_err(|bad| {
            fail(
                match bad {
                    BadTarget::DotSegment => Failure::BadPath,
                    BadTarget::Upstream => Failure::BadUpstream,
                },
                None,
            )
        })?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        let trust = match peer {
            Some(p) if self.trusted_proxies.iter().any(|c| c.contains(p.ip())) => {
                Peer::TrustedProxy
            }
            _ => Peer::Untrusted,
        };
        let guarded = parts.extensions.get::<AdminConfigured>().is_some();
        let declared = body::declared_length(&parts.headers);
        let json_post = headers::is_json_post(&parts);
        let plan = self.plan(purpose, json_post, declared);
        let body = body::prepare(body, declared, plan, self.max_body_bytes)
            .await
            .map_err(|failure| fail(failure, None))?;
        let json = body.buffered().filter(|_| json_post).cloned();
        let outgoing = Outgoing {
            headers: headers::outgoing(parts.headers, &parts.uri, peer, trust),
            method: parts.method,
            url,
            json,
            guarded,
        };
        Ok((outgoing, body))
    }

    /// Replayable requests buffer what fits. Plain forwards stream, except a JSON `POST` of a
    /// declared small size: that is one whole JSON-RPC message the MCP server must read in full
    /// anyway, and having it lets a failure be answered as a JSON-RPC error for its `id`.
    fn plan(&self, purpose: Purpose, json_post: bool, declared: Option<u64>) -> Plan {
        let small = u64::try_from(self.replay_buffer_bytes)
            .is_ok_and(|limit| declared.is_some_and(|length| length <= limit));
        match purpose {
            Purpose::Replay => Plan::Buffer(self.replay_buffer_bytes),
            Purpose::Forward if json_post && small => Plan::Buffer(self.replay_buffer_bytes),
            Purpose::Forward => Plan::Stream,
        }
    }

    /// One attempt: until the response head, within `first_byte_timeout`. Records the metrics.
    async fn send(
        &self,
        outgoing: Outgoing,
        body: Outbound,
        identity: &IdentityHeaders,
    ) -> Result<http::Response<UpstreamBody>, Failure> {
        let Outgoing {
            method,
            url,
            mut headers,
            guarded,
            ..
        } = outgoing;
        let (key, uri, host) = addressed(&url).ok_or(Failure::BadUpstream)?;
        // A literal address never reaches the resolver: it is judged here (rows written
        // before the admin API checked them).
        if guarded
            && let Some(host) = url.host()
            && let Err(refused) = self.guard.check_host(&host)
        {
            tracing::warn!(%refused, "forwarding to an admin-configured MCP server refused");
            return Err(Failure::Unavailable);
        }
        identity.replace_headers(&mut headers);
        // The MCP server's spans join the trace as children of this one.
        let span = tracing::info_span!(
            "mcp_forward",
            upstream = url.host_str().unwrap_or_default(),
            status = tracing::field::Empty
        );
        crate::telemetry::trace_context::inject(&span, &mut headers);
        headers.insert(header::HOST, host);
        let (body, fault) = body.into_body(&mut headers);
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let started = Instant::now();
        let sent = async {
            if guarded {
                self.guarded.send(key, request).await
            } else {
                self.client.send(key, request).await
            }
        };
        let sent = tracing::Instrument::instrument(sent, span.clone());
        let result = match tokio::time::timeout(self.first_byte_timeout, sent).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(classify(&error, fault.as_deref())),
            Err(_) => Err(Failure::Timeout),
        };
        let elapsed = started.elapsed();
        let status = match &result {
            Ok(response) => response.status(),
            Err(failure) => failure.status(),
        };
        span.record("status", status.as_u16());
        self.metrics.record(status, elapsed);
        tracing::debug!(
            upstream = url.host_str().unwrap_or_default(),
            status = status.as_u16(),
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "forwarded to MCP server"
        );
        result
    }
}

/// The MCP server's answer for the client: status, cleaned headers, and the body passed on
/// chunk by chunk (an SSE stream event by event, ending at an event boundary on shutdown).
fn relay(upstream: http::Response<UpstreamBody>, draining: &Draining) -> Response {
    let (mut parts, body) = upstream.into_parts();
    headers::incoming(&mut parts.headers);
    let body = body.map_err(|error| {
        metrics::counter!("gateway_upstream_errors_total", "kind" => "response_body").increment(1);
        tracing::debug!(cause = %cause(&error), "MCP server response body ended early");
        error
    });
    let mut body = Body::new(body);
    if headers::is_event_stream(&parts.headers) {
        body = draining.wrap(body);
    }
    let mut response = Response::new(body);
    *response.status_mut() = parts.status;
    *response.headers_mut() = parts.headers;
    response
}

/// A gateway error; answered as a JSON-RPC error when `json` is a JSON-RPC request.
fn fail(failure: Failure, json: Option<&[u8]>) -> Response {
    metrics::counter!("gateway_upstream_errors_total", "kind" => failure.kind()).increment(1);
    failure.respond(json.and_then(rpc_id).as_ref())
}
