//! What a test can see of a running demo server: counters, the last request's headers, and a
//! switch that ends the open SSE streams.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use http::HeaderMap;
use tokio::sync::watch;

/// A cheap, cloneable view of one demo server instance. Tests use it to assert what reached the
/// MCP server (no `Authorization`, no spoofed `X-Auth-*`) and how often it was asked.
#[derive(Clone)]
pub struct DemoMcpHandle {
    inner: Arc<Inner>,
}

struct Inner {
    requests: AtomicU64,
    initialize: AtomicU64,
    tool_calls: AtomicU64,
    sse_streams_open: AtomicU64,
    sessions_terminated: AtomicU64,
    upstream_checks: AtomicU64,
    upstream_rejections: AtomicU64,
    last_headers: Mutex<HeaderMap>,
    closing: watch::Sender<bool>,
}

/// The counters the handlers bump.
#[derive(Clone, Copy, Debug)]
pub(super) enum Counter {
    Requests,
    Initialize,
    ToolCalls,
    SessionsTerminated,
    UpstreamChecks,
    UpstreamRejections,
}

impl std::fmt::Debug for DemoMcpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may carry tokens, so they are left out.
        f.debug_struct("DemoMcpHandle")
            .field("requests", &self.requests())
            .field("sse_streams_open", &self.sse_streams_open())
            .finish_non_exhaustive()
    }
}

impl DemoMcpHandle {
    pub(super) fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                requests: AtomicU64::new(0),
                initialize: AtomicU64::new(0),
                tool_calls: AtomicU64::new(0),
                sse_streams_open: AtomicU64::new(0),
                sessions_terminated: AtomicU64::new(0),
                upstream_checks: AtomicU64::new(0),
                upstream_rejections: AtomicU64::new(0),
                last_headers: Mutex::new(HeaderMap::new()),
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Every HTTP request to the endpoint, whatever its method or outcome.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }
    /// `initialize` requests answered (each one started a session).
    pub fn initialize(&self) -> u64 {
        self.inner.initialize.load(Ordering::Relaxed)
    }
    /// `tools/call` requests received, known tool or not.
    pub fn tool_calls(&self) -> u64 {
        self.inner.tool_calls.load(Ordering::Relaxed)
    }
    /// `GET` SSE streams currently open (drops when a client disconnects).
    pub fn sse_streams_open(&self) -> u64 {
        self.inner.sse_streams_open.load(Ordering::Relaxed)
    }
    /// Sessions ended by `DELETE`.
    pub fn sessions_terminated(&self) -> u64 {
        self.inner.sessions_terminated.load(Ordering::Relaxed)
    }
    /// Calls made to the upstream check URL.
    pub fn upstream_checks(&self) -> u64 {
        self.inner.upstream_checks.load(Ordering::Relaxed)
    }
    /// `POST`s refused with `401` because the upstream token was missing or rejected.
    pub fn upstream_rejections(&self) -> u64 {
        self.inner.upstream_rejections.load(Ordering::Relaxed)
    }

    /// The headers of the most recent request, exactly as the server received them.
    pub fn last_headers(&self) -> HeaderMap {
        self.inner
            .last_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ends every open `GET` stream (and refuses new ones), so a graceful shutdown can finish.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    pub(super) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    pub(super) fn bump(&self, counter: Counter) {
        let inner = &self.inner;
        let atomic = match counter {
            Counter::Requests => &inner.requests,
            Counter::Initialize => &inner.initialize,
            Counter::ToolCalls => &inner.tool_calls,
            Counter::SessionsTerminated => &inner.sessions_terminated,
            Counter::UpstreamChecks => &inner.upstream_checks,
            Counter::UpstreamRejections => &inner.upstream_rejections,
        };
        atomic.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_last_headers(&self, headers: &HeaderMap) {
        *self
            .inner
            .last_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = headers.clone();
    }

    /// Counts one open stream until the returned guard is dropped.
    pub(super) fn stream_opened(&self) -> OpenStream {
        self.inner.sse_streams_open.fetch_add(1, Ordering::Relaxed);
        OpenStream {
            handle: self.clone(),
        }
    }
}

/// Held by a `GET` stream; dropping it (client gone, session ended, shutdown) uncounts it.
pub(super) struct OpenStream {
    handle: DemoMcpHandle,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.handle
            .inner
            .sse_streams_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}
