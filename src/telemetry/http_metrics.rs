//! Counts and times every HTTP request by route template (never by raw path, which would let
//! clients create unbounded label values), method and status.
//!
//! The metric handles of each (route, method, status) are looked up once and kept: building the
//! labels and finding them in the registry allocated three strings and a label vector per
//! request, on the gateway's hot path (issue 13, `bench/README.md`). Every label is bounded:
//! routes are the router's templates (`unmatched` for the rest), methods are the standard ones
//! (`other` for any extension method a client invents), statuses are three digits.

use std::{
    collections::HashMap,
    sync::{LazyLock, RwLock},
    time::Instant,
};

use axum::{extract::MatchedPath, extract::Request, middleware::Next, response::Response};
use http::Method;
use metrics::{Counter, Histogram};

/// The two handles one (route, method, status) records into. They are bound to the global
/// recorder, which `AppState` installs before the router can serve anything
/// (`telemetry::metrics::handle`).
#[derive(Clone)]
struct Handles {
    requests: Counter,
    duration: Histogram,
}

/// Route template → (method, status) → handles. Bounded by the label sets above.
type Known = HashMap<Box<str>, HashMap<(&'static str, u16), Handles>>;

static KNOWN: LazyLock<RwLock<Known>> = LazyLock::new(RwLock::default);

pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // A clone of the matched path is a reference count, not a copy.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let handles = handles(route, method, response.status().as_u16());
    handles.requests.increment(1);
    handles.duration.record(started.elapsed().as_secs_f64());
    response
}

fn handles(route: &str, method: &'static str, status: u16) -> Handles {
    let key = (method, status);
    // A poisoned lock only means another request panicked while inserting; the map is intact.
    let known = KNOWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = known.get(route).and_then(|by| by.get(&key)) {
        return found.clone();
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
    known
        .entry(route.into())
        .or_default()
        .entry(key)
        .or_insert(made)
        .clone()
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
