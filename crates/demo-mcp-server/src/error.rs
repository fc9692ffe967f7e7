//! Transport-level failures and their HTTP shapes.
//!
//! Failures of a JSON-RPC *request* (unknown method, bad params) are JSON-RPC errors inside a
//! `200`; these are the ones the transport answers with an HTTP error status, carrying a
//! JSON-RPC error object with `id: null` where the spec lets the server add one.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::jsonrpc;

#[derive(Debug)]
pub(super) enum TransportError {
    /// A request other than `initialize` without `Mcp-Session-Id` (400).
    MissingSession,
    /// An `Mcp-Session-Id` that is unknown, terminated or evicted (404): the client must
    /// initialize again.
    UnknownSession,
    /// `MCP-Protocol-Version` names a revision this server does not speak (400).
    UnsupportedProtocolVersion,
    /// `GET` without `Accept: text/event-stream` (405).
    SseNotAccepted,
    /// A body over `max_body_bytes` (413).
    PayloadTooLarge,
    /// A body that could not be read (400).
    UnreadableBody,
    /// Not JSON (400, JSON-RPC -32700).
    Parse,
    /// JSON but not one JSON-RPC message, batches included (400, JSON-RPC -32600).
    InvalidRequest(&'static str),
    /// The upstream token is missing or the upstream API answered 401 (401).
    UpstreamRejected,
    /// The upstream check could not be made (502).
    UpstreamUnavailable,
}

impl IntoResponse for TransportError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::MissingSession => (
                StatusCode::BAD_REQUEST,
                jsonrpc::SERVER_ERROR,
                "Bad Request: Mcp-Session-Id header is required",
            ),
            Self::UnknownSession => (
                StatusCode::NOT_FOUND,
                jsonrpc::SERVER_ERROR,
                "Session not found: initialize a new session",
            ),
            Self::UnsupportedProtocolVersion => (
                StatusCode::BAD_REQUEST,
                jsonrpc::SERVER_ERROR,
                "Bad Request: unsupported MCP-Protocol-Version",
            ),
            Self::SseNotAccepted => return sse_not_accepted(),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                jsonrpc::INVALID_REQUEST,
                "Request body too large",
            ),
            Self::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                jsonrpc::PARSE_ERROR,
                "Request body could not be read",
            ),
            Self::Parse => (StatusCode::BAD_REQUEST, jsonrpc::PARSE_ERROR, "Parse error"),
            Self::InvalidRequest(why) => (StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST, why),
            Self::UpstreamRejected => return upstream_rejected(),
            Self::UpstreamUnavailable => (
                StatusCode::BAD_GATEWAY,
                jsonrpc::SERVER_ERROR,
                "The upstream API could not be reached",
            ),
        };
        let body = jsonrpc::failure(&serde_json::Value::Null, code, message);
        (status, Json(body)).into_response()
    }
}

fn sse_not_accepted() -> Response {
    let body = jsonrpc::failure(
        &serde_json::Value::Null,
        jsonrpc::SERVER_ERROR,
        "Method Not Allowed: GET needs Accept: text/event-stream",
    );
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"))],
        Json(body),
    )
        .into_response()
}

/// RFC 6750 §3: the shape a resource server uses when the bearer token is no good, which is
/// what the gateway's refresh-on-401 logic watches for.
fn upstream_rejected() -> Response {
    let description = "the upstream API rejected the token";
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"invalid_token\", error_description=\"the upstream API rejected the token\"",
            ),
        )],
        Json(json!({ "error": "invalid_token", "error_description": description })),
    )
        .into_response()
}
