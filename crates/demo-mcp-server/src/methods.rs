//! The MCP methods this server answers: `initialize`, `ping`, `tools/list`, `tools/call`.

use http::HeaderMap;
use serde_json::{Value, json};

use super::{
    headers::{LATEST_VERSION, SUPPORTED_VERSIONS},
    jsonrpc::{METHOD_NOT_FOUND, RpcError, RpcRequest},
    tools::{self, ToolOutcome},
};

/// The name clients see in `serverInfo`.
pub(super) const SERVER_NAME: &str = "mcp-auth-bridge-demo";

/// What a request resolved to: a result to send, or a countdown to stream.
#[derive(Debug)]
pub(super) enum Outcome {
    Result(Value),
    Countdown { n: u32, progress_token: Value },
}

/// Answers every request method except `initialize` (which also starts a session, so the
/// transport handles it with [`initialize_result`]).
pub(super) async fn dispatch(
    request: &RpcRequest,
    headers: &HeaderMap,
) -> Result<Outcome, RpcError> {
    match request.method.as_str() {
        "ping" => Ok(Outcome::Result(json!({}))),
        "initialize" => Ok(Outcome::Result(initialize_result(&request.params))),
        "tools/list" => Ok(Outcome::Result(tools::list())),
        "tools/call" => match tools::call(&request.params, headers).await? {
            ToolOutcome::Done(result) => Ok(Outcome::Result(result)),
            ToolOutcome::Countdown(n) => Ok(Outcome::Countdown {
                n,
                progress_token: progress_token(request),
            }),
        },
        _ => Err(RpcError::new(METHOD_NOT_FOUND, "Method not found")),
    }
}

/// Echoes the client's protocol version when this server speaks it, else offers the latest
/// (the client then decides whether to carry on).
pub(super) fn initialize_result(params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = requested
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .unwrap_or(LATEST_VERSION);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false }, "logging": {} },
        "serverInfo": { "name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION") },
        "instructions": "A demo MCP server behind mcp-auth-bridge: echo, add, whoami, slow, countdown."
    })
}

/// The client's `_meta.progressToken`, or the request id when it sent none (so the countdown
/// still has something to report against).
fn progress_token(request: &RpcRequest) -> Value {
    request
        .params
        .get("_meta")
        .and_then(|meta| meta.get("progressToken"))
        .filter(|t| t.is_string() || t.is_number())
        .cloned()
        .unwrap_or_else(|| request.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supported_protocol_version_is_echoed() {
        let result = initialize_result(&json!({ "protocolVersion": "2025-03-26" }));
        assert_eq!(result["protocolVersion"], "2025-03-26");
    }

    #[test]
    fn an_unknown_protocol_version_gets_the_latest() {
        let result = initialize_result(&json!({ "protocolVersion": "1999-01-01" }));
        assert_eq!(result["protocolVersion"], LATEST_VERSION);
    }
}
