//! The layer that lets tests see every request: counts it and keeps its headers.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

use super::{DemoMcpHandle, handle::Counter};

pub(super) async fn record(
    State(handle): State<DemoMcpHandle>,
    request: Request,
    next: Next,
) -> Response {
    handle.bump(Counter::Requests);
    handle.set_last_headers(request.headers());
    next.run(request).await
}
