//! A tiny gateway (one route calling `Proxy::forward` with a fixed identity) in front of a demo
//! MCP server, and a client that speaks MCP to it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Path, Request, State},
    response::Response,
    routing::any,
};
use demo_mcp_server::{self, DemoMcpHandle, DemoMcpOptions};
use mcp_auth_bridge::{
    config::{GatewayConfig, HumanDuration},
    gateway::{Identity, Proxy},
};
use reqwest::header;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Every wait in these tests ends by this deadline, so a broken proxy fails instead of hanging.
pub(super) const PATIENCE: Duration = Duration::from_secs(5);

/// Where the test gateway mounts the MCP server.
const MOUNT: &str = "/t/acme/mcp/demo";

struct Mounted {
    proxy: Proxy,
    upstream: url::Url,
    identity: Identity,
}

/// The identity the auth layer would have built.
pub(super) fn identity() -> Identity {
    Identity {
        subject: "user-42".into(),
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        tenant: "acme".into(),
        client_id: "client-1".into(),
        scopes: vec!["mcp".into(), "tools:read".into()],
        upstream_token: Some("upstream-abc".into()),
        assertion: Some("header.payload.signature".into()),
        groups: None,
        roles: None,
    }
}

/// Gateway settings with test-sized timeouts.
pub(super) fn config() -> GatewayConfig {
    GatewayConfig {
        connect_timeout: HumanDuration(Duration::from_secs(2)),
        first_byte_timeout: HumanDuration(Duration::from_secs(3)),
        ..GatewayConfig::default()
    }
}

/// Serves `MOUNT` (and everything below it) on `127.0.0.1:0`, forwarding to `upstream`.
pub(super) async fn spawn_gateway(upstream: url::Url, config: &GatewayConfig) -> SocketAddr {
    let mounted = Arc::new(Mounted {
        proxy: Proxy::new(config),
        upstream,
        identity: identity(),
    });
    let app = Router::new()
        .route(MOUNT, any(forward_root))
        .route(&format!("{MOUNT}/{{*rest}}"), any(forward_rest))
        .with_state(mounted);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

async fn forward_root(State(m): State<Arc<Mounted>>, request: Request) -> Response {
    m.proxy
        .forward(request, &m.upstream, "", &m.identity.headers())
        .await
}

async fn forward_rest(
    State(m): State<Arc<Mounted>>,
    Path(rest): Path<String>,
    request: Request,
) -> Response {
    m.proxy
        .forward(request, &m.upstream, &rest, &m.identity.headers())
        .await
}

/// A demo MCP server with a fast tick and a gateway in front of it.
pub(super) struct Setup {
    /// The gateway's URL of the MCP server.
    pub url: String,
    pub handle: DemoMcpHandle,
    pub http: reqwest::Client,
    pub session: Option<String>,
}

impl Setup {
    pub(super) async fn start(config: &GatewayConfig, options: DemoMcpOptions) -> Self {
        let (mcp, handle) = demo_mcp_server::spawn(options).await.expect("demo server");
        let upstream = url::Url::parse(&format!("http://{mcp}/mcp")).expect("url");
        let gateway = spawn_gateway(upstream, config).await;
        Self {
            url: format!("http://{gateway}{MOUNT}"),
            handle,
            http: reqwest::Client::new(),
            session: None,
        }
    }

    pub(super) async fn fast() -> Self {
        Self::with_config(&config()).await
    }

    pub(super) async fn with_config(config: &GatewayConfig) -> Self {
        let options = DemoMcpOptions {
            tick: Duration::from_millis(20),
            ..DemoMcpOptions::default()
        };
        Self::start(config, options).await
    }

    /// A fast setup with an initialized session.
    pub(super) async fn initialized() -> Self {
        let mut setup = Self::fast().await;
        let response = setup.initialize().await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        setup
    }

    /// A POST as a spec-following MCP client sends it, with the session once there is one.
    pub(super) fn post(&self) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(&self.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        self.with_session(request)
    }

    pub(super) fn with_session(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.session {
            Some(id) => request
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", "2025-11-25"),
            None => request,
        }
    }

    pub(super) async fn initialize(&mut self) -> reqwest::Response {
        let params = json!({ "protocolVersion": "2025-11-25" });
        let response = self
            .post()
            .json(&rpc(0, "initialize", params))
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

    /// One JSON-RPC request; the whole JSON-RPC response.
    pub(super) async fn call(&self, method: &str, params: Value) -> Value {
        let response = self
            .post()
            .json(&rpc(7, method, params))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.json().await.expect("a JSON response")
    }

    pub(super) async fn tool(&self, name: &str, arguments: Value) -> Value {
        let params = json!({ "name": name, "arguments": arguments });
        self.call("tools/call", params).await["result"].clone()
    }
}

pub(super) fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// A loopback URL nothing listens on (bound, then released).
pub(super) async fn closed_port_url() -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    url::Url::parse(&format!("http://{addr}/mcp")).expect("url")
}

/// Reads SSE `data:` payloads until `count` arrived or the stream ended, failing after
/// [`PATIENCE`].
pub(super) async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<Value> {
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
            let data = raw
                .lines()
                .find_map(|line| line.strip_prefix("data:"))
                .expect("every event carries data");
            events.push(serde_json::from_str(data.trim()).expect("data is JSON"));
        }
    }
    events
}

/// Waits until `condition` holds, failing after [`PATIENCE`].
pub(super) async fn eventually(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
