//! The demo tools. Unknown tools and malformed calls are protocol errors (-32602); arguments that
//! fail the tool's input schema are tool errors (`isError: true`) so a model can correct itself,
//! as MCP 2025-11-25 asks.

use std::time::Duration;

use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Number, Value, json};

use super::{
    jsonrpc::{INVALID_PARAMS, RpcError},
    whoami,
};

/// Upper bound of `slow`, so a call cannot park a connection for long.
const MAX_SLOW_MS: u64 = 30_000;
/// Upper bound of `countdown`.
const MAX_COUNTDOWN: u32 = 100;

#[derive(Debug)]
pub(super) enum ToolOutcome {
    /// A finished `CallToolResult`.
    Done(Value),
    /// Count down from `n`, streaming progress when the client accepts SSE.
    Countdown(u32),
}

#[derive(Deserialize)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    a: Number,
    b: Number,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowArgs {
    ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountdownArgs {
    n: u32,
}

/// The `tools/list` result.
pub(super) fn list() -> Value {
    json!({ "tools": [
        tool("echo", "Returns its text unchanged.",
            json!({ "text": { "type": "string" } }), &["text"]),
        tool("add", "Adds two numbers.",
            json!({ "a": { "type": "number" }, "b": { "type": "number" } }), &["a", "b"]),
        tool("whoami", "Describes the identity headers (X-Auth-*) this server received.",
            json!({}), &[]),
        tool("slow", "Sleeps for ms milliseconds (at most 30 000), then answers.",
            json!({ "ms": { "type": "integer", "minimum": 0, "maximum": MAX_SLOW_MS } }), &["ms"]),
        tool("countdown", "Counts down from n, streaming one progress notification per step.",
            json!({ "n": { "type": "integer", "minimum": 1, "maximum": MAX_COUNTDOWN } }), &["n"]),
    ]})
}

fn tool(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false
        }
    })
}

/// Runs one `tools/call`.
pub(super) async fn call(params: &Value, headers: &HeaderMap) -> Result<ToolOutcome, RpcError> {
    let call = CallParams::deserialize(params)
        .map_err(|_| RpcError::new(INVALID_PARAMS, "Invalid params: expected {name, arguments}"))?;
    let arguments = call.arguments.unwrap_or_else(|| json!({}));
    let outcome = match call.name.as_str() {
        "echo" => args::<EchoArgs>(&arguments).map(|a| text_result(&a.text)),
        "add" => args::<AddArgs>(&arguments).and_then(|a| add(&a.a, &a.b)),
        "whoami" => Ok(whoami_result(headers)),
        "slow" => match args::<SlowArgs>(&arguments) {
            Ok(a) => slow(a.ms).await,
            Err(e) => Err(e),
        },
        "countdown" => match args::<CountdownArgs>(&arguments) {
            Ok(a) if (1..=MAX_COUNTDOWN).contains(&a.n) => return Ok(ToolOutcome::Countdown(a.n)),
            Ok(_) => Err(format!("n must be between 1 and {MAX_COUNTDOWN}")),
            Err(e) => Err(e),
        },
        _ => return Err(RpcError::new(INVALID_PARAMS, "Unknown tool")),
    };
    Ok(ToolOutcome::Done(
        outcome.unwrap_or_else(|e| error_result(&e)),
    ))
}

/// The result of a finished countdown.
pub(super) fn countdown_result(n: u32) -> Value {
    text_result(&format!("countdown from {n} finished"))
}

fn args<T: for<'de> Deserialize<'de>>(arguments: &Value) -> Result<T, String> {
    T::deserialize(arguments).map_err(|e| format!("invalid arguments: {e}"))
}

fn add(a: &Number, b: &Number) -> Result<Value, String> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        if let Some(sum) = a.checked_add(b) {
            return Ok(number_result(Number::from(sum)));
        }
    }
    let sum = a.as_f64().unwrap_or(f64::NAN) + b.as_f64().unwrap_or(f64::NAN);
    Number::from_f64(sum)
        .map(number_result)
        .ok_or_else(|| "the sum is not a finite number".to_owned())
}

async fn slow(ms: u64) -> Result<Value, String> {
    if ms > MAX_SLOW_MS {
        return Err(format!("ms must be at most {MAX_SLOW_MS}"));
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(text_result(&format!("slept {ms} ms")))
}

fn whoami_result(headers: &HeaderMap) -> Value {
    let report = whoami::report(headers);
    json!({
        "content": [{ "type": "text", "text": report.to_string() }],
        "structuredContent": report,
        "isError": false
    })
}

fn number_result(sum: Number) -> Value {
    json!({
        "content": [{ "type": "text", "text": sum.to_string() }],
        "structuredContent": { "sum": sum },
        "isError": false
    })
}

fn text_result(text: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": false })
}

fn error_result(message: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn integers_add_exactly_and_overflow_falls_back_to_floats() {
        let exact = call(
            &json!({"name": "add", "arguments": {"a": 2, "b": 3}}),
            &HeaderMap::new(),
        )
        .await;
        let big = call(
            &json!({"name": "add", "arguments": {"a": i64::MAX, "b": 1}}),
            &HeaderMap::new(),
        )
        .await;
        assert!(matches!(exact, Ok(ToolOutcome::Done(v)) if v["structuredContent"]["sum"] == 5));
        assert!(matches!(big, Ok(ToolOutcome::Done(v)) if v["isError"] == false));
    }

    #[tokio::test]
    async fn arguments_outside_the_schema_are_a_tool_error() {
        let result = call(
            &json!({"name": "slow", "arguments": {"ms": 999_999}}),
            &HeaderMap::new(),
        )
        .await;
        assert!(matches!(result, Ok(ToolOutcome::Done(v)) if v["isError"] == true));
    }

    #[tokio::test]
    async fn an_unknown_tool_is_a_protocol_error() {
        let result = call(&json!({"name": "nope"}), &HeaderMap::new()).await;
        assert!(matches!(result, Err(e) if e.code == INVALID_PARAMS));
    }
}
