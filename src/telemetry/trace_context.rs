//! W3C Trace Context (`traceparent`, `tracestate`) at the service's edges.
//!
//! Incoming: a client's `traceparent` is believed only from `server.trusted_proxies` (the same
//! peers whose `X-Forwarded-*` are believed); anyone else could otherwise pick trace ids, force
//! sampling, or graft their requests onto someone else's trace. Outgoing: requests to MCP servers
//! and to IdPs carry the current span's context, so their spans join the bridge's trace.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use http::HeaderMap;
use opentelemetry::{propagation::TextMapPropagator, trace::TraceContextExt};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::domain::Cidr;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Makes `span` (the request's) continue the trace of `request`'s `traceparent` when the peer is
/// a trusted proxy; otherwise the span starts a trace of its own.
pub fn adopt_remote_parent(span: &tracing::Span, request: &Request, trusted_proxies: &[Cidr]) {
    if !request.headers().contains_key(TRACEPARENT) {
        return;
    }
    let trusted = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|peer| trusted_proxies.iter().any(|c| c.contains(peer.0.ip())));
    if !trusted {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    if parent.span().span_context().is_remote() {
        let _ = span.set_parent(parent);
    }
}

/// Replaces `traceparent`/`tracestate` in `headers` with the current span's context. Without
/// traces (no exporter, so no valid context) the headers are left as they are.
pub fn inject_current(headers: &mut HeaderMap) {
    inject(&tracing::Span::current(), headers);
}

/// Like [`inject_current`] with `span`'s context.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return;
    }
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// The current span's context as headers for an outgoing request (empty without traces).
pub fn current_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers
}

/// The tenant slug of a `/t/{tenant}/…` path, as the request span's `tenant` attribute.
pub fn tenant_of(path: &str) -> Option<&str> {
    path.strip_prefix("/t/")
        .and_then(|rest| rest.split('/').next())
        .filter(|slug| !slug.is_empty() && slug.len() <= 64)
}

/// Records the authenticated OAuth client on the request's span (`client_id` attribute). Client
/// ids are public identifiers, never secrets.
pub fn record_client_id(client_id: &str) {
    tracing::Span::current().record("client_id", client_id);
}
