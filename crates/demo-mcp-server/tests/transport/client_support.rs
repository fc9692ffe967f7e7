//! A minimal MCP client over reqwest and SSE reading helpers, shared by these tests.

use std::time::Duration;

use demo_mcp_server::{self, DemoMcpHandle, DemoMcpOptions};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::time::Instant;

/// Every wait in these tests ends by this deadline, so a broken server fails instead of hanging.
pub(super) const PATIENCE: Duration = Duration::from_secs(5);

/// A minimal MCP client over reqwest: one server, one session.
pub(super) struct Mcp {
    pub url: String,
    pub http: reqwest::Client,
    pub handle: DemoMcpHandle,
    pub session: Option<String>,
}

impl Mcp {
    pub(super) async fn spawn(options: DemoMcpOptions) -> Self {
        let (addr, handle) = demo_mcp_server::spawn(options)
            .await
            .expect("demo server starts");
        Self {
            url: format!("http://{addr}/mcp"),
            http: reqwest::Client::new(),
            handle,
            session: None,
        }
    }

    pub(super) async fn fast() -> Self {
        Self::spawn(DemoMcpOptions {
            tick: Duration::from_millis(20),
            ..DemoMcpOptions::default()
        })
        .await
    }

    /// A POST as a spec-following client sends it, with the session once there is one.
    pub(super) fn post(&self) -> reqwest::RequestBuilder {
        self.post_with("application/json, text/event-stream", "2025-11-25")
    }

    /// A POST with its own `Accept` and `MCP-Protocol-Version` (reqwest appends headers, so
    /// overriding them on [`Mcp::post`] would send both values).
    pub(super) fn post_with(&self, accept: &str, version: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(&self.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, accept);
        match &self.session {
            Some(id) => request
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", version),
            None => request,
        }
    }

    pub(super) async fn initialize(&mut self) -> reqwest::Response {
        let response = self
            .post()
            .json(&request(
                0,
                "initialize",
                json!({ "protocolVersion": "2025-11-25" }),
            ))
            .send()
            .await
            .expect("initialize sent");
        self.session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        response
    }

    pub(super) async fn initialized() -> Self {
        let mut mcp = Self::fast().await;
        assert_eq!(mcp.initialize().await.status(), StatusCode::OK);
        mcp
    }

    /// Sends one request and returns the whole JSON-RPC response.
    pub(super) async fn call(&self, method: &str, params: Value) -> Value {
        let response = self
            .post()
            .json(&request(7, method, params))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a JSON response")
    }

    pub(super) async fn tool(&self, name: &str, arguments: Value) -> Value {
        let response = self
            .call(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await;
        response["result"].clone()
    }

    pub(super) fn get_stream(&self) -> reqwest::RequestBuilder {
        self.get_accepting("text/event-stream")
    }

    pub(super) fn get_accepting(&self, accept: &str) -> reqwest::RequestBuilder {
        self.http
            .get(&self.url)
            .header(header::ACCEPT, accept)
            .header(
                "mcp-session-id",
                self.session.as_deref().unwrap_or_default(),
            )
    }
}

pub(super) fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[derive(Debug)]
pub(super) struct SseEvent {
    pub id: Option<String>,
    pub data: Value,
}

/// Reads SSE events until `count` arrived or the stream ended, failing after [`PATIENCE`].
pub(super) async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<SseEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events arrive in time")
            .expect("the stream is readable");
        let Some(chunk) = chunk else { break };
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        while let Some(end) = buffer.find("\n\n") {
            let raw: String = buffer.drain(..end + 2).collect();
            events.push(parse_event(&raw));
        }
    }
    events
}

fn parse_event(raw: &str) -> SseEvent {
    let field = |name: &str| {
        raw.lines()
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let data = field("data:").expect("every event carries data");
    SseEvent {
        id: field("id:"),
        data: serde_json::from_str(&data).expect("data is JSON"),
    }
}

/// Waits until `condition` holds, failing after [`PATIENCE`].
pub(super) async fn eventually(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
