//! The demo MCP server speaks the Streamable HTTP transport (MCP 2025-11-25) over real loopback
//! HTTP: sessions, JSON and SSE answers, the GET stream, errors, and upstream check mode.

use std::time::Duration;

use axum::{Router, routing::get};
use mcp_auth_bridge::demo_mcp_server::{self, DemoMcpHandle, DemoMcpOptions};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};

/// Every wait in these tests ends by this deadline, so a broken server fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(5);

/// A minimal MCP client over reqwest: one server, one session.
struct Mcp {
    url: String,
    http: reqwest::Client,
    handle: DemoMcpHandle,
    session: Option<String>,
}

impl Mcp {
    async fn spawn(options: DemoMcpOptions) -> Self {
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

    async fn fast() -> Self {
        Self::spawn(DemoMcpOptions {
            tick: Duration::from_millis(20),
            ..DemoMcpOptions::default()
        })
        .await
    }

    /// A POST as a spec-following client sends it, with the session once there is one.
    fn post(&self) -> reqwest::RequestBuilder {
        self.post_with("application/json, text/event-stream", "2025-11-25")
    }

    /// A POST with its own `Accept` and `MCP-Protocol-Version` (reqwest appends headers, so
    /// overriding them on [`Mcp::post`] would send both values).
    fn post_with(&self, accept: &str, version: &str) -> reqwest::RequestBuilder {
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

    async fn initialize(&mut self) -> reqwest::Response {
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

    async fn initialized() -> Self {
        let mut mcp = Self::fast().await;
        assert_eq!(mcp.initialize().await.status(), StatusCode::OK);
        mcp
    }

    /// Sends one request and returns the whole JSON-RPC response.
    async fn call(&self, method: &str, params: Value) -> Value {
        let response = self
            .post()
            .json(&request(7, method, params))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a JSON response")
    }

    async fn tool(&self, name: &str, arguments: Value) -> Value {
        let response = self
            .call(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await;
        response["result"].clone()
    }

    fn get_stream(&self) -> reqwest::RequestBuilder {
        self.get_accepting("text/event-stream")
    }

    fn get_accepting(&self, accept: &str) -> reqwest::RequestBuilder {
        self.http
            .get(&self.url)
            .header(header::ACCEPT, accept)
            .header(
                "mcp-session-id",
                self.session.as_deref().unwrap_or_default(),
            )
    }
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[derive(Debug)]
struct SseEvent {
    id: Option<String>,
    data: Value,
}

/// Reads SSE events until `count` arrived or the stream ended, failing after [`PATIENCE`].
async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<SseEvent> {
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
async fn eventually(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn initialize_returns_a_session_id_and_echoes_a_supported_protocol_version() {
    // Arrange
    let mut mcp = Mcp::fast().await;

    // Act
    let response = mcp.initialize().await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let session = mcp.session.clone().expect("a session id");
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(body["result"]["serverInfo"]["name"], "mcp-auth-bridge-demo");
    assert_eq!(
        body["result"]["capabilities"]["tools"]["listChanged"],
        false
    );
    assert_eq!(mcp.handle.initialize(), 1);
}

#[tokio::test]
async fn tools_list_describes_every_tool_with_an_input_schema() {
    let mcp = Mcp::initialized().await;

    let response = mcp.call("tools/list", json!({})).await;

    let tools = response["result"]["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["echo", "add", "whoami", "slow", "countdown"]);
    assert!(tools.iter().all(|t| t["inputSchema"]["type"] == "object"));
}

#[tokio::test]
async fn echo_returns_its_text_and_add_returns_the_sum() {
    let mcp = Mcp::initialized().await;

    let echoed = mcp.tool("echo", json!({ "text": "hello" })).await;
    let added = mcp.tool("add", json!({ "a": 2, "b": 40 })).await;

    assert_eq!(echoed["content"][0]["text"], "hello");
    assert_eq!(added["content"][0]["text"], "42");
    assert_eq!(mcp.handle.tool_calls(), 2);
}

#[tokio::test]
async fn whoami_reports_the_identity_headers_it_received() {
    let mcp = Mcp::initialized().await;

    let response = mcp
        .post()
        .header("x-auth-user-id", "alice")
        .header("x-auth-tenant", "acme")
        .header(header::AUTHORIZATION, "Bearer leaked")
        .json(&request(3, "tools/call", json!({ "name": "whoami" })))
        .send()
        .await
        .expect("sent");

    let body: Value = response.json().await.expect("JSON");
    let text = body["result"]["content"][0]["text"].as_str().expect("text");
    let report: Value = serde_json::from_str(text).expect("JSON text");
    assert_eq!(report["headers"]["x-auth-user-id"], "alice");
    assert_eq!(report["headers"]["x-auth-tenant"], "acme");
    assert_eq!(report["authorization_header_present"], true);
    assert_eq!(report["cookie_present"], false);
    let seen = mcp.handle.last_headers();
    assert_eq!(
        seen.get("x-auth-user-id").map(|v| v.as_bytes()),
        Some(&b"alice"[..])
    );
}

#[tokio::test]
async fn countdown_streams_progress_then_the_result_when_the_client_accepts_sse() {
    let mcp = Mcp::initialized().await;

    let mut response = mcp
        .post()
        .json(&request(
            9,
            "tools/call",
            json!({ "name": "countdown", "arguments": { "n": 3 } }),
        ))
        .send()
        .await
        .expect("sent");

    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let events = read_events(&mut response, 5).await;
    assert_eq!(
        events.len(),
        4,
        "three progress notifications, one result, then the end"
    );
    let progress: Vec<&Value> = events[..3]
        .iter()
        .map(|e| &e.data["params"]["progress"])
        .collect();
    assert_eq!(progress, [1, 2, 3]);
    assert_eq!(events[3].data["id"], 9);
    assert_eq!(events[3].data["result"]["isError"], false);
}

#[tokio::test]
async fn countdown_answers_plain_json_when_the_client_does_not_accept_sse() {
    let mcp = Mcp::initialized().await;

    let response = mcp
        .post_with("application/json", "2025-11-25")
        .json(&request(
            9,
            "tools/call",
            json!({ "name": "countdown", "arguments": { "n": 2 } }),
        ))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["result"]["content"][0]["text"],
        "countdown from 2 finished"
    );
}

#[tokio::test]
async fn a_get_stream_delivers_numbered_events_while_open() {
    let mcp = Mcp::initialized().await;

    let mut response = mcp.get_stream().send().await.expect("stream opened");
    let events = read_events(&mut response, 3).await;

    assert_eq!(response.status(), StatusCode::OK);
    let ids: Vec<Option<&str>> = events.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, [Some("1"), Some("2"), Some("3")]);
    assert_eq!(events[2].data["method"], "notifications/message");
    assert_eq!(events[2].data["params"]["data"]["counter"], 3);
    assert_eq!(mcp.handle.sse_streams_open(), 1);
}

#[tokio::test]
async fn a_reconnecting_stream_continues_after_the_last_event_id() {
    let mcp = Mcp::initialized().await;

    let mut response = mcp
        .get_stream()
        .header("last-event-id", "41")
        .send()
        .await
        .expect("stream opened");
    let events = read_events(&mut response, 1).await;

    assert_eq!(events[0].id.as_deref(), Some("42"));
}

#[tokio::test]
async fn a_stream_is_released_when_the_client_disconnects() {
    let mcp = Mcp::initialized().await;
    let mut response = mcp.get_stream().send().await.expect("stream opened");
    read_events(&mut response, 1).await;

    drop(response);

    eventually(|| mcp.handle.sse_streams_open() == 0).await;
}

#[tokio::test]
async fn a_get_without_accepting_sse_is_405() {
    let mcp = Mcp::initialized().await;

    let response = mcp
        .get_accepting("application/json")
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn delete_terminates_the_session_and_its_stream() {
    // Arrange
    let mcp = Mcp::initialized().await;
    let session = mcp.session.clone().expect("session");
    let mut stream = mcp.get_stream().send().await.expect("stream opened");
    read_events(&mut stream, 1).await;

    // Act
    let deleted = mcp
        .http
        .delete(&mcp.url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("sent");

    // Assert
    assert_eq!(deleted.status(), StatusCode::OK);
    let after = mcp
        .post()
        .json(&request(1, "ping", json!({})))
        .send()
        .await
        .expect("sent");
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
    assert_eq!(mcp.handle.sessions_terminated(), 1);
    let rest = read_events(&mut stream, usize::MAX).await;
    assert!(rest.len() <= 2, "the stream ends once its session is gone");
}

#[tokio::test]
async fn a_request_without_a_session_id_is_400_and_an_unknown_one_is_404() {
    let mut mcp = Mcp::fast().await;

    let missing = mcp
        .post()
        .json(&request(1, "ping", json!({})))
        .send()
        .await
        .expect("sent");
    mcp.session = Some("no-such-session".into());
    let unknown = mcp
        .post()
        .json(&request(1, "ping", json!({})))
        .send()
        .await
        .expect("sent");

    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ping_answers_an_empty_result_and_notifications_get_202() {
    let mcp = Mcp::initialized().await;

    let pong = mcp.call("ping", json!({})).await;
    let notified = mcp
        .post()
        .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .send()
        .await
        .expect("sent");

    assert_eq!(pong["result"], json!({}));
    assert_eq!(notified.status(), StatusCode::ACCEPTED);
    assert!(notified.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn an_unsupported_protocol_version_header_is_400() {
    let mcp = Mcp::initialized().await;

    let response = mcp
        .post_with("application/json, text/event-stream", "2024-01-01")
        .json(&request(1, "ping", json!({})))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unparsable_json_is_a_400_parse_error() {
    let mcp = Mcp::initialized().await;

    let response = mcp.post().body("{not json").send().await.expect("sent");

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], -32700);
}

#[tokio::test]
async fn an_unknown_method_is_method_not_found() {
    let mcp = Mcp::initialized().await;

    let response = mcp.call("resources/teleport", json!({})).await;

    assert_eq!(response["error"]["code"], -32601);
    assert_eq!(response["id"], 7);
}

#[tokio::test]
async fn an_unknown_tool_is_invalid_params() {
    let mcp = Mcp::initialized().await;

    let response = mcp.call("tools/call", json!({ "name": "rm-rf" })).await;

    assert_eq!(response["error"]["code"], -32602);
}

#[tokio::test]
async fn a_batch_is_an_invalid_request() {
    let mcp = Mcp::initialized().await;

    let response = mcp
        .post()
        .json(&json!([
            request(1, "ping", json!({})),
            request(2, "ping", json!({}))
        ]))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], -32600);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mcp = Mcp::initialized().await;
    let text = "x".repeat(1024 * 1024 + 1);

    let response = mcp
        .post()
        .json(&request(
            1,
            "tools/call",
            json!({ "name": "echo", "arguments": { "text": text } }),
        ))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A stand-in upstream API on loopback: `Bearer good` is accepted, anything else is 401.
async fn spawn_upstream_api() -> url::Url {
    let app = Router::new().route(
        "/check",
        get(|headers: axum::http::HeaderMap| async move {
            match headers.get(header::AUTHORIZATION) {
                Some(v) if v == "Bearer good" => StatusCode::OK,
                _ => StatusCode::UNAUTHORIZED,
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}/check")).expect("url")
}

#[tokio::test]
async fn upstream_check_mode_answers_401_when_the_upstream_rejects_the_token() {
    // Arrange
    let upstream = spawn_upstream_api().await;
    let mcp = Mcp::spawn(DemoMcpOptions {
        upstream_check_url: Some(upstream),
        ..DemoMcpOptions::default()
    })
    .await;
    let initialize = request(0, "initialize", json!({}));
    let with_token = |token: &str| {
        mcp.post()
            .header(demo_mcp_server::UPSTREAM_TOKEN_HEADER, token)
            .json(&initialize)
            .send()
    };

    // Act
    let accepted = with_token("good").await.expect("sent");
    let rejected = with_token("expired").await.expect("sent");
    let missing = mcp.post().json(&initialize).send().await.expect("sent");

    // Assert
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);
    let challenge = rejected.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .expect("ASCII");
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
    let body: Value = rejected.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(mcp.handle.upstream_checks(), 2);
    assert_eq!(mcp.handle.upstream_rejections(), 2);
}

#[tokio::test]
async fn serve_stops_on_shutdown_even_with_a_stream_open() {
    // Arrange
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = DemoMcpOptions {
        tick: Duration::from_millis(20),
        ..DemoMcpOptions::default()
    };
    let server = tokio::spawn(demo_mcp_server::serve(listener, options, async {
        let _ = stopped.await;
    }));
    let mut mcp = Mcp::fast().await;
    mcp.url = format!("http://{addr}/mcp");
    mcp.initialize().await;
    let mut stream = mcp.get_stream().send().await.expect("stream opened");
    read_events(&mut stream, 1).await;

    // Act
    let _ = stop.send(());

    // Assert
    let finished = timeout(PATIENCE, server).await.expect("stopped in time");
    assert!(matches!(finished, Ok(Ok(()))));
}
