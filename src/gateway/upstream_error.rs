//! What the gateway answers when it cannot relay the MCP server's own answer.
//!
//! A JSON-RPC request whose `id` the gateway saw (a small JSON `POST` it buffered) gets a
//! JSON-RPC error envelope, so MCP clients report it against the right request; anything else
//! gets a small JSON object. Either way the HTTP status says what happened (502, 504, 413…),
//! and no internal error text is sent.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// JSON-RPC 2.0 "Internal error": what MCP clients already know how to show.
const INTERNAL_ERROR: i64 = -32603;

/// Why a request was not relayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The path below the server's mount point was refused (dot segments).
    BadPath,
    /// The configured upstream URL cannot be used.
    BadUpstream,
    /// `TRACE`, `CONNECT` and other methods MCP does not use.
    MethodNotAllowed,
    /// The request body is over `max_body_bytes`.
    TooLarge,
    /// The client's body stream failed (it went away mid-upload).
    ClientBody,
    /// The MCP server refused the connection or is unreachable.
    Unavailable,
    /// No connection within `connect_timeout`.
    ConnectTimeout,
    /// No response head within `first_byte_timeout`.
    Timeout,
    /// The connection broke or the MCP server spoke broken HTTP.
    Protocol,
}

impl Failure {
    /// The `kind` label of `gateway_upstream_errors_total`.
    pub(super) fn kind(self) -> &'static str {
        match self {
            Self::BadPath => "bad_path",
            Self::BadUpstream => "bad_upstream",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooLarge => "too_large",
            Self::ClientBody => "client_body",
            Self::Unavailable => "unavailable",
            Self::ConnectTimeout => "connect_timeout",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
        }
    }

    pub(super) fn status(self) -> StatusCode {
        match self {
            Self::BadPath | Self::ClientBody => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadUpstream | Self::Unavailable | Self::Protocol => StatusCode::BAD_GATEWAY,
            Self::ConnectTimeout | Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::BadPath | Self::ClientBody => "invalid_request",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooLarge => "payload_too_large",
            Self::BadUpstream | Self::Unavailable | Self::Protocol => "bad_gateway",
            Self::ConnectTimeout | Self::Timeout => "gateway_timeout",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::BadPath => "The request path is not allowed",
            Self::BadUpstream => "MCP server is misconfigured",
            Self::MethodNotAllowed => "Method not allowed",
            Self::TooLarge => "Request body too large",
            Self::ClientBody => "Request body could not be read",
            Self::Unavailable | Self::Protocol => "MCP server unavailable",
            Self::ConnectTimeout | Self::Timeout => "MCP server did not answer in time",
        }
    }

    /// The response, as a JSON-RPC error for `rpc_id` when the request was a JSON-RPC request.
    pub(super) fn respond(self, rpc_id: Option<&Value>) -> Response {
        let status = self.status();
        let body = match rpc_id {
            Some(id) => json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {
                    "code": INTERNAL_ERROR,
                    "message": self.message(),
                    "data": { "status": status.as_u16(), "kind": self.kind() },
                },
            }),
            None => json!({ "error": self.code(), "error_description": self.message() }),
        };
        let mut response = (status, Json(body)).into_response();
        if self == Self::MethodNotAllowed {
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, DELETE, OPTIONS"),
            );
        }
        response
    }
}

/// The `id` of a JSON-RPC request (not a notification, response or batch), if `body` is one.
pub(super) fn rpc_id(body: &[u8]) -> Option<Value> {
    let message: Value = serde_json::from_slice(body).ok()?;
    message.get("method")?.as_str()?;
    let id = message.get("id")?;
    (id.is_string() || id.is_number()).then(|| id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_with_an_id_have_one() {
        assert_eq!(
            rpc_id(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#),
            Some(json!(7))
        );
        assert_eq!(
            rpc_id(br#"{"jsonrpc":"2.0","method":"notifications/x"}"#),
            None
        );
        assert_eq!(rpc_id(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#), None);
        assert_eq!(rpc_id(br#"[{"jsonrpc":"2.0","id":7,"method":"a"}]"#), None);
        assert_eq!(rpc_id(b"not json"), None);
    }
}
