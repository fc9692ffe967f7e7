//! `DELETE /mcp`: the client ends its session; the id answers `404` from then on.

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, StatusCode};

use super::{
    error::TransportError,
    handle::Counter,
    headers::{self, SESSION_ID},
    state::Shared,
};

pub(super) async fn terminate(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match end_session(&shared, &headers) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => error.into_response(),
    }
}

fn end_session(shared: &Shared, headers: &HeaderMap) -> Result<(), TransportError> {
    headers::check_protocol_version(headers)?;
    let value = headers
        .get(SESSION_ID)
        .ok_or(TransportError::MissingSession)?;
    let id = value.to_str().map_err(|_| TransportError::UnknownSession)?;
    if shared.sessions.remove(id) {
        shared.handle.bump(Counter::SessionsTerminated);
        Ok(())
    } else {
        Err(TransportError::UnknownSession)
    }
}
