//! `POST /mcp`: one JSON-RPC message in; a JSON response, an SSE stream (countdown), or `202`.

use std::sync::Arc;

use axum::{
    Json,
    extract::{State, rejection::BytesRejection},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{
    countdown,
    error::TransportError,
    handle::Counter,
    headers::{self, SESSION_ID},
    jsonrpc::{self, Incoming, RpcRequest},
    methods::{self, Outcome},
    state::Shared,
    tools, upstream_check,
};

pub(super) async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&shared, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    shared: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TransportError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => TransportError::PayloadTooLarge,
        _ => TransportError::UnreadableBody,
    })?;
    upstream_check::check(shared, headers).await?;
    headers::check_protocol_version(headers)?;
    match jsonrpc::parse(&body)? {
        Incoming::Request(request) if request.method == "initialize" => {
            Ok(initialize(shared, &request))
        }
        Incoming::Request(request) => {
            headers::live_session(headers, &shared.sessions)?;
            Ok(answer(shared, headers, &request).await)
        }
        Incoming::NotificationOrResponse => {
            headers::live_session(headers, &shared.sessions)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

/// Starts a session (any session id the client sent is ignored) and answers with its id.
fn initialize(shared: &Shared, request: &RpcRequest) -> Response {
    shared.handle.bump(Counter::Initialize);
    let session = shared.sessions.create();
    let result = methods::initialize_result(&request.params);
    let body = jsonrpc::success(&request.id, result);
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&session) {
        response.headers_mut().insert(SESSION_ID, value);
    }
    response
}

async fn answer(shared: &Shared, headers: &HeaderMap, request: &RpcRequest) -> Response {
    if request.method == "tools/call" {
        shared.handle.bump(Counter::ToolCalls);
    }
    let message = match methods::dispatch(request, headers).await {
        Ok(Outcome::Result(result)) => jsonrpc::success(&request.id, result),
        Ok(Outcome::Countdown { n, progress_token }) if headers::accepts_sse(headers) => {
            return countdown::stream(request.id.clone(), progress_token, n, shared.options.tick);
        }
        Ok(Outcome::Countdown { n, .. }) => {
            jsonrpc::success(&request.id, tools::countdown_result(n))
        }
        Err(error) => jsonrpc::failure(&request.id, error.code, &error.message),
    };
    Json(message).into_response()
}
