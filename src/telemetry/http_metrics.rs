//! Counts and times every HTTP request by route template (never by raw path, which would let
//! clients create unbounded label values), method and status.
//!
//! The metric handles of each (route, method, status) are looked up once and kept: building the
//! labels and finding them in the registry allocated three strings and a label vector per
//! request, on the gateway's hot path (issue 13, `bench/README.md`). Every label is bounded:
//! routes are the router's templates (`unmatched` for the rest), methods are the standard ones
//! (`other` for any extension method a client invents), statuses are three digits.
//!
//! A `tower` layer of its own rather than `axum::middleware::from_fn`, which boxes the inner
//! service, its future and the `Next` handle on every request (issue 13, item 2).

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{LazyLock, RwLock},
    task::{Context, Poll},
    time::Instant,
};

use axum::{extract::MatchedPath, extract::Request, response::Response};
use http::Method;
use metrics::{Counter, Histogram};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The two handles one (route, method, status) records into. They are bound to the global
/// recorder, which `AppState` installs before the router can serve anything
/// (`telemetry::metrics::handle`).
struct Handles {
    requests: Counter,
    duration: Histogram,
}

/// Route template → (method, status) → handles. Bounded by the label sets above.
type Known = HashMap<Box<str>, HashMap<(&'static str, u16), Handles>>;

static KNOWN: LazyLock<RwLock<Known>> = LazyLock::new(RwLock::default);

/// Counts and times every request (see the module documentation). Inside the router's
/// routing (`Router::layer`), where the matched route template is known.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpMetricsLayer;

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics { inner }
    }
}

/// The service of [`HttpMetricsLayer`].
#[derive(Clone, Debug)]
pub struct HttpMetrics<S> {
    inner: S,
}

impl<S> Service<Request> for HttpMetrics<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        // A clone of the matched path is a reference count, not a copy.
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = method_label(request.method());
        Recorded {
            inner: self.inner.call(request),
            started,
            route,
            method,
        }
    }
}

pin_project! {
    /// The inner future, recorded when its response is there.
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: Option<MatchedPath>,
        method: &'static str,
    }
}

impl<F, E> Future for Recorded<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            let seconds = this.started.elapsed().as_secs_f64();
            record(route, this.method, response.status().as_u16(), seconds);
        }
        Poll::Ready(result)
    }
}

/// Counts one request and its duration; the handles are made on the first of their labels.
fn record(route: &str, method: &'static str, status: u16, seconds: f64) {
    let key = (method, status);
    let count = |handles: &Handles| {
        handles.requests.increment(1);
        handles.duration.record(seconds);
    };
    // A poisoned lock only means another request panicked while inserting; the map is intact.
    let known = KNOWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = known.get(route).and_then(|by| by.get(&key)) {
        count(found);
        return;
    }
    drop(known);
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    let made = Handles {
        requests: metrics::counter!("http_requests_total", &labels),
        duration: metrics::histogram!("http_request_duration_seconds", &labels),
    };
    let mut known = KNOWN
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    count(
        known
            .entry(route.into())
            .or_default()
            .entry(key)
            .or_insert(made),
    );
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invented_method_is_one_label_not_one_per_spelling() {
        let invented = |name: &str| Method::from_bytes(name.as_bytes()).unwrap();
        assert_eq!(method_label(&invented("BREW")), "other");
        assert_eq!(method_label(&invented("PROPFIND")), "other");
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
