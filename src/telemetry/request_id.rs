//! `x-request-id`: taken from the client when present and sane, generated otherwise, echoed in
//! the response and put on the request's span so every log line of the request carries it.
//!
//! A `tower` layer of its own rather than `axum::middleware::from_fn`: `from_fn` boxes the
//! inner service, its future and the `Next` handle on every request (issue 13, item 2); this
//! one names its future and allocates nothing beyond the id itself.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    response::Response,
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, available to handlers as an extension. Held as the header
/// value itself: the request, the response and the extension share one buffer (a clone is a
/// reference count), so an id costs at most one allocation per request.
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only ever built from visible ASCII (`acceptable`) or a formatted UUID.
        self.0.to_str().unwrap_or("-")
    }
}

/// A client-sent id is kept only if it is short printable ASCII; anything else (oversized,
/// control characters, unicode) is replaced, so logs never carry hostile bytes.
fn acceptable(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

/// Gives every request its id (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Clone, Debug)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S> Service<Request> for SetRequestId<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EchoRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let value = match request.headers().get(&HEADER) {
            Some(sent) if acceptable(sent).is_some() => sent.clone(),
            _ => generated(),
        };
        // Also when it was sent: any further `x-request-id` the client sent goes.
        request.headers_mut().insert(HEADER, value.clone());
        request.extensions_mut().insert(RequestId(value.clone()));
        EchoRequestId {
            inner: self.inner.call(request),
            value: Some(value),
        }
    }
}

pin_project! {
    /// The inner future, whose response gets the request's id.
    pub struct EchoRequestId<F> {
        #[pin]
        inner: F,
        value: Option<HeaderValue>,
    }
}

impl<F, E> Future for EchoRequestId<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(value)) = (&mut result, this.value.take()) {
            response.headers_mut().insert(HEADER, value);
        }
        Poll::Ready(result)
    }
}

/// A fresh UUID v4, formatted on the stack and copied once into the header value.
fn generated() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt as _;

    /// Answers with the id it saw as an extension and as a header.
    async fn seen(request: Request) -> Result<Response, std::convert::Infallible> {
        let extension = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned());
        let header = request.headers().get(&HEADER).cloned();
        let mut response = Response::new(Body::from(extension.unwrap_or_default()));
        if let Some(header) = header {
            response
                .headers_mut()
                .insert("x-seen-header", header.clone());
        }
        Ok(response)
    }

    async fn call(sent: Option<&str>) -> (Response, String) {
        let mut request = Request::new(Body::empty());
        if let Some(sent) = sent {
            request
                .headers_mut()
                .insert(HEADER, HeaderValue::from_str(sent).unwrap());
        }
        let response = RequestIdLayer
            .layer(tower::service_fn(seen))
            .oneshot(request)
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1024).await.unwrap();
        (
            Response::from_parts(parts, Body::empty()),
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_sane_id_is_kept_and_a_hostile_one_replaced_everywhere_alike() {
        let (response, extension) = call(Some("req-1")).await;
        assert_eq!(response.headers()[&HEADER], "req-1");
        assert_eq!(response.headers()["x-seen-header"], "req-1");
        assert_eq!(extension, "req-1");

        let (response, extension) = call(Some("a b")).await;
        let echoed = response.headers()[&HEADER].to_str().unwrap();
        assert_ne!(echoed, "a b");
        assert_eq!(echoed.len(), 36, "a UUID");
        assert_eq!(response.headers()["x-seen-header"], echoed);
        assert_eq!(extension, echoed);
    }
}
