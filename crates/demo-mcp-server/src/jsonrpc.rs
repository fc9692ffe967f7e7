//! JSON-RPC 2.0 as MCP uses it over Streamable HTTP: one message per `POST` (batches were
//! removed in 2025-06-18), ids that are strings or numbers, never null.

use serde_json::{Value, json};

use super::error::TransportError;

pub(super) const PARSE_ERROR: i64 = -32700;
pub(super) const INVALID_REQUEST: i64 = -32600;
pub(super) const METHOD_NOT_FOUND: i64 = -32601;
pub(super) const INVALID_PARAMS: i64 = -32602;
/// Implementation-defined server error, used by the MCP SDKs for transport refusals.
pub(super) const SERVER_ERROR: i64 = -32000;

/// A request: it expects a response.
#[derive(Debug)]
pub(super) struct RpcRequest {
    pub id: Value,
    pub method: String,
    pub params: Value,
}

/// One client message, classified.
#[derive(Debug)]
pub(super) enum Incoming {
    Request(RpcRequest),
    /// Notifications and responses to server requests: acknowledged with `202`.
    NotificationOrResponse,
}

/// A JSON-RPC error a method answers with.
#[derive(Debug)]
pub(super) struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Parses one message; the error tells the transport which HTTP error to answer with.
pub(super) fn parse(body: &[u8]) -> Result<Incoming, TransportError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| TransportError::Parse)?;
    let object = match value {
        Value::Object(object) => object,
        Value::Array(_) => {
            return Err(TransportError::InvalidRequest(
                "Invalid Request: JSON-RPC batches are not supported",
            ));
        }
        _ => {
            return Err(TransportError::InvalidRequest(
                "Invalid Request: expected a JSON-RPC object",
            ));
        }
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(TransportError::InvalidRequest(
            "Invalid Request: jsonrpc must be \"2.0\"",
        ));
    }
    let id = object.get("id").cloned();
    if let Some(id) = &id {
        if !(id.is_string() || id.is_number()) {
            return Err(TransportError::InvalidRequest(
                "Invalid Request: id must be a string or a number",
            ));
        }
    }
    match (object.get("method"), id) {
        (Some(Value::String(method)), Some(id)) => Ok(Incoming::Request(RpcRequest {
            id,
            method: method.clone(),
            params: object.get("params").cloned().unwrap_or(Value::Null),
        })),
        (Some(Value::String(_)), None) => Ok(Incoming::NotificationOrResponse),
        (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => {
            Ok(Incoming::NotificationOrResponse)
        }
        _ => Err(TransportError::InvalidRequest(
            "Invalid Request: not a request, notification or response",
        )),
    }
}

pub(super) fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub(super) fn failure(id: &Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

pub(super) fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_with_a_method_and_an_id_is_a_request() {
        let parsed = parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert!(matches!(parsed, Ok(Incoming::Request(r)) if r.method == "ping"));
    }

    #[test]
    fn notifications_and_responses_are_acknowledged() {
        let notification = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let response = parse(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#);
        assert!(matches!(notification, Ok(Incoming::NotificationOrResponse)));
        assert!(matches!(response, Ok(Incoming::NotificationOrResponse)));
    }

    #[test]
    fn a_null_id_a_batch_and_a_wrong_version_are_invalid() {
        for body in [
            &br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#[..],
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            br#"42"#,
        ] {
            assert!(matches!(
                parse(body),
                Err(TransportError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(parse(b"{nope"), Err(TransportError::Parse)));
    }
}
