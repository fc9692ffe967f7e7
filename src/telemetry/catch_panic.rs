//! A handler that panics answers `500` (and the panic is logged) instead of the connection
//! being dropped without an answer.
//!
//! Instead of `tower_http::catch_panic::CatchPanicLayer`, whose responses all get a boxed body
//! of its own type (which axum then boxes again into its `Body`): one allocation per request
//! for the rare panic (issue 13, item 2). Here the response passes as it is.

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt as _, future::CatchUnwind};
use http::{HeaderValue, StatusCode, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Catches panics of the services below it (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

/// The service of [`CatchPanicLayer`].
#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S> Service<Request> for CatchPanic<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Caught<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => Caught::Running {
                future: AssertUnwindSafe(future).catch_unwind(),
            },
            Err(panic) => Caught::Panicked { panic: Some(panic) },
        }
    }
}

pin_project! {
    /// The inner future, or the panic its making raised.
    #[project = CaughtProjection]
    pub enum Caught<F> {
        Running { #[pin] future: CatchUnwind<AssertUnwindSafe<F>> },
        Panicked { panic: Option<Box<dyn Any + Send>> },
    }
}

impl<F, E> Future for Caught<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CaughtProjection::Running { future } => match std::task::ready!(future.poll(cx)) {
                Ok(result) => Poll::Ready(result),
                Err(panic) => Poll::Ready(Ok(panicked(panic.as_ref()))),
            },
            CaughtProjection::Panicked { panic } => {
                Poll::Ready(Ok(panicked(panic.take().as_deref().unwrap_or(&()))))
            }
        }
    }
}

/// The answer to a panic, logged with its message (as `tower_http` did).
fn panicked(panic: &(dyn Any + Send)) -> Response {
    if let Some(message) = panic.downcast_ref::<String>() {
        tracing::error!("Service panicked: {}", message);
    } else if let Some(message) = panic.downcast_ref::<&str>() {
        tracing::error!("Service panicked: {}", message);
    } else {
        tracing::error!("Service panicked but `CatchPanic` was unable to downcast the panic info");
    }
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        Body::from("Service panicked"),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use tower::ServiceExt as _;

    #[allow(clippy::panic, reason = "the panic under test")]
    async fn panics_while_running(_: Request) -> Result<Response, Infallible> {
        tokio::task::yield_now().await;
        panic!("boom");
    }

    #[derive(Clone)]
    struct PanicsWhenCalled;

    impl Service<Request> for PanicsWhenCalled {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        #[allow(clippy::panic, reason = "the panic under test")]
        fn call(&mut self, _: Request) -> Self::Future {
            panic!("boom");
        }
    }

    #[tokio::test]
    async fn a_panic_while_calling_or_running_is_a_500_and_an_answer_passes_untouched() {
        let running = CatchPanicLayer
            .layer(tower::service_fn(panics_while_running))
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(running.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            running.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );

        let called = CatchPanicLayer
            .layer(PanicsWhenCalled)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(called.status(), StatusCode::INTERNAL_SERVER_ERROR);

        let fine = CatchPanicLayer
            .layer(tower::service_fn(|_: Request| async {
                Ok::<_, Infallible>(StatusCode::ACCEPTED.into_response())
            }))
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(fine.status(), StatusCode::ACCEPTED);
    }
}
