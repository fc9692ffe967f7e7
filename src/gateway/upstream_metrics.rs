//! `gateway_upstream_requests_total` (by status) and `gateway_upstream_duration_seconds`,
//! recorded per request through handles looked up once.
//!
//! Looking a handle up builds its labels and searches the registry (a `to_string` of the
//! status per request, on the gateway's hot path: issue 13). The handles are kept per
//! [`Proxy`](super::Proxy), not in a static: a handle is bound to the recorder installed when
//! it was made, and a proxy built before the recorder (tests) must not pin a no-op one for the
//! rest of the process.

use std::{
    collections::HashMap,
    sync::{OnceLock, PoisonError, RwLock},
    time::Duration,
};

use http::StatusCode;
use metrics::{Counter, Histogram};

#[derive(Debug, Default)]
pub(super) struct UpstreamMetrics {
    duration: OnceLock<Histogram>,
    /// Bounded: statuses are three digits.
    requests: RwLock<HashMap<u16, Counter>>,
}

impl UpstreamMetrics {
    /// One answer (or gateway failure) with `status`, `elapsed` after the request was sent.
    pub(super) fn record(&self, status: StatusCode, elapsed: Duration) {
        self.duration
            .get_or_init(|| metrics::histogram!("gateway_upstream_duration_seconds"))
            .record(elapsed.as_secs_f64());
        self.requests(status.as_u16()).increment(1);
    }

    fn requests(&self, status: u16) -> Counter {
        // A poisoned lock only means a panic elsewhere while inserting; the map is intact.
        let known = self.requests.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(counter) = known.get(&status) {
            return counter.clone();
        }
        drop(known);
        let made =
            metrics::counter!("gateway_upstream_requests_total", "status" => status.to_string());
        self.requests
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status)
            .or_insert(made)
            .clone()
    }
}
