//! The request's span: every log line and exported span of a request is under it, with the
//! request id, method, path (never the query: it carries codes and states), the tenant as the
//! path names it and, once known, the client id (`telemetry::record_*`). A client's
//! `traceparent` is adopted from trusted proxies only (`trace_context`).
//!
//! It emits what `tower_http`'s `TraceLayer::new_for_http()` did: `started processing request`
//! and `finished processing request` (latency, status) at DEBUG, `response failed` at ERROR for
//! a 5xx or a failed response body, `end of stream` at DEBUG; and, as it did, the span lasts
//! until the response body has been sent, its polls inside it. Written out here because the
//! `TraceLayer` wraps every response body in a type of its own, which axum then boxes: one
//! allocation per request even with no subscriber at all (issue 13, item 2). Here a body is
//! wrapped only when the span is recorded by someone.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{body::Body, extract::Request, response::Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;

use super::{request_id::RequestId, trace_context};
use crate::domain::Cidr;

/// Opens the request's span (see the module documentation).
#[derive(Clone, Debug)]
pub struct RequestSpanLayer {
    trusted_proxies: Arc<[Cidr]>,
}

impl RequestSpanLayer {
    /// `trusted_proxies`: the peers whose `traceparent` is believed (`server.trusted_proxies`).
    pub fn new(trusted_proxies: Arc<[Cidr]>) -> Self {
        Self { trusted_proxies }
    }
}

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestSpan {
            inner,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

/// The service of [`RequestSpanLayer`].
#[derive(Clone, Debug)]
pub struct RequestSpan<S> {
    inner: S,
    trusted_proxies: Arc<[Cidr]>,
}

impl<S> Service<Request> for RequestSpan<S>
where
    S: Service<Request, Response = Response>,
    S::Error: std::fmt::Display,
{
    type Response = Response;
    type Error = S::Error;
    type Future = InSpan<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let span = span_of(&request, &self.trusted_proxies);
        let inner = {
            let _entered = span.enter();
            tracing::debug!("started processing request");
            self.inner.call(request)
        };
        InSpan {
            inner,
            span,
            started,
        }
    }
}

/// The span of `request`, continuing a trusted proxy's trace.
fn span_of(request: &Request, trusted_proxies: &[Cidr]) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or("-", RequestId::as_str);
    // The tenant as the path names it; `tenancy` records the resolved one, and `client_id` is
    // filled in once known (`telemetry::record_*`).
    let tenant = trace_context::tenant_of(request.uri().path());
    let span = tracing::info_span!(
        "request",
        %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        tenant,
        client_id = tracing::field::Empty,
    );
    if !span.is_disabled() {
        trace_context::adopt_remote_parent(&span, request, trusted_proxies);
    }
    span
}

pin_project! {
    /// The inner future, polled inside the request's span.
    pub struct InSpan<F> {
        #[pin]
        inner: F,
        span: Span,
        started: Instant,
    }
}

impl<F, E> Future for InSpan<F>
where
    F: Future<Output = Result<Response, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = std::task::ready!(this.inner.poll(cx));
        let latency = Latency(this.started.elapsed());
        match result {
            Ok(response) => {
                let status = response.status();
                tracing::debug!(
                    %latency,
                    status = i32::from(status.as_u16()),
                    "finished processing request"
                );
                if status.is_server_error() {
                    let classification = format_args!("Status code: {status}");
                    tracing::error!(%classification, %latency, "response failed");
                }
                if this.span.is_disabled() {
                    return Poll::Ready(Ok(response));
                }
                let span = this.span.clone();
                Poll::Ready(Ok(response.map(|body| {
                    Body::new(SpannedBody {
                        inner: body,
                        span,
                        started: Instant::now(),
                        ended: false,
                    })
                })))
            }
            Err(error) => {
                tracing::error!(classification = %error, %latency, "response failed");
                Poll::Ready(Err(error))
            }
        }
    }
}

pin_project! {
    /// A response body sent inside the request's span, which it keeps open until it ends.
    struct SpannedBody {
        #[pin]
        inner: Body,
        span: Span,
        started: Instant,
        ended: bool,
    }
}

impl HttpBody for SpannedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let _entered = this.span.enter();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Err(error)) => {
                let latency = Latency(this.started.elapsed());
                tracing::error!(classification = %error, %latency, "response failed");
            }
            None if !*this.ended => {
                *this.ended = true;
                let stream_duration = Latency(this.started.elapsed());
                tracing::debug!(%stream_duration, "end of stream");
            }
            _ => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A duration as `tower_http` logged it: whole milliseconds.
struct Latency(Duration);

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ms", self.0.as_millis())
    }
}
