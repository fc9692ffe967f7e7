//! Opt-in OpenTelemetry traces (issue 15 item 4), exported to a real OTLP/HTTP receiver on
//! loopback (`support::otlp_receiver`) that decodes the protobuf export.
//!
//! The pipeline is installed as this test thread's default subscriber: `#[sqlx::test]` runs a
//! current-thread runtime, so the bridge, the fake IdP and the demo MCP server spawned by the
//! test all emit into it, and parallel tests in the same process are not affected.

use std::time::{Duration, Instant};

use mcp_auth_bridge::{config::TracesConfig, telemetry::traces::Traces};
use serde_json::json;
use sqlx::PgPool;
use tracing_subscriber::{EnvFilter, prelude::*};

use crate::{
    app_support::{spawn_app, test_config},
    gateway::setup,
    support::{
        bridge_process::{BridgeProcess, database_url_for},
        otlp_receiver::{OtlpReceiver, ReceivedSpan},
    },
};

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

fn traces_config(endpoint: &str, extra: &str) -> TracesConfig {
    toml::from_str(&format!(
        "enabled = true\nendpoint = \"{endpoint}\"\nscheduled_delay = \"50ms\"\n{extra}"
    ))
    .expect("traces config")
}

/// Starts the pipeline and makes it this thread's subscriber until the guard drops.
fn install(config: &TracesConfig) -> (Traces, tracing::subscriber::DefaultGuard) {
    let traces = Traces::start(config, tokio::runtime::Handle::current())
        .expect("pipeline builds")
        .expect("enabled");
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("info"))
        .with(traces.layer());
    let guard = tracing::subscriber::set_default(subscriber);
    (traces, guard)
}

fn client_traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

fn is_request(span: &ReceivedSpan, method: &str, path: &str) -> bool {
    span.name == "request"
        && span.attribute("method") == Some(method)
        && span.attribute("path") == Some(path)
}

#[sqlx::test]
async fn gateway_spans_are_exported_with_parent_links_and_the_mcp_server_joins_the_trace(
    pool: PgPool,
) {
    // Arrange
    let receiver = OtlpReceiver::start().await;
    let (traces, _guard) = install(&traces_config(&receiver.endpoint(), ""));
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;

    // Act: a client that is no trusted proxy sends its own traceparent.
    let response = s
        .post(
            "demo",
            &token,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .header("traceparent", client_traceparent())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    // The request span ends with the response body: read it whole before flushing, or a
    // loaded machine flushes before the span has ended and it waits for the next batch.
    response.bytes().await.expect("the whole answer");
    traces.flush().await;

    // Assert: the request span starts a trace of its own, with tenant and client id.
    let request = receiver
        .wait_for(Duration::from_secs(5), |span| {
            is_request(span, "POST", "/t/acme/mcp/demo")
        })
        .await
        .expect("the gateway request's span was exported");
    assert_ne!(
        request.trace_id, CLIENT_TRACE,
        "an untrusted traceparent is ignored"
    );
    assert_eq!(request.parent_span_id, "", "it is a root span");
    assert_eq!(request.attribute("tenant"), Some("acme"));
    assert_eq!(request.attribute("client_id"), Some(s.client_id.as_str()));

    // The forward to the MCP server is its child, and the MCP server received its context.
    let spans = receiver.spans();
    let forward = spans
        .iter()
        .find(|span| span.name == "mcp_forward" && span.parent_span_id == request.span_id)
        .expect("an mcp_forward span under the request span");
    assert_eq!(forward.trace_id, request.trace_id);
    assert_eq!(forward.attribute("status"), Some("200"));
    let seen = s.mcp.last_headers();
    let sent = seen
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("the MCP server received a traceparent");
    assert_eq!(
        sent,
        format!("00-{}-{}-01", request.trace_id, forward.span_id)
    );

    // Database calls are spans under the request that made them.
    let token_request = spans
        .iter()
        .find(|span| is_request(span, "POST", "/t/acme/token"))
        .expect("the token request's span");
    assert_eq!(
        token_request.attribute("client_id"),
        Some(s.client_id.as_str())
    );
    assert!(
        spans.iter().any(|span| span.name.starts_with("db.clients.")
            && span.parent_span_id == token_request.span_id),
        "a client lookup span under the token request"
    );

    // IdP calls during login are spans under the callback's request span.
    let callback_ids: Vec<&str> = spans
        .iter()
        .filter(|span| {
            span.name == "request"
                && span
                    .attribute("path")
                    .is_some_and(|p| p.contains("/callback/"))
        })
        .map(|span| span.span_id.as_str())
        .collect();
    for name in ["upstream_token", "upstream_userinfo"] {
        assert!(
            spans
                .iter()
                .any(|span| span.name == name
                    && callback_ids.contains(&span.parent_span_id.as_str())),
            "{name} under the callback request: {spans:#?}"
        );
    }
}

#[sqlx::test]
async fn no_token_code_or_secret_appears_in_exported_spans(pool: PgPool) {
    // Arrange
    let receiver = OtlpReceiver::start().await;
    let (traces, _guard) = install(&traces_config(&receiver.endpoint(), ""));
    let s = setup(&pool, "").await;

    // Act: login (authorize, upstream code exchange, userinfo, token), then a gateway call.
    let token = s.token("demo", "mcp").await;
    let upstream_code = s
        .idp
        .last_token_request()
        .and_then(|form| form.get("code").cloned())
        .expect("the bridge redeemed an upstream code");
    s.initialize("demo", &token).await;
    traces.flush().await;

    // Assert
    let raw = receiver.raw();
    assert!(receiver.spans().len() > 5, "spans were exported");
    let mut secrets = vec![token, upstream_code, s.idp.client_secret().to_owned()];
    secrets.extend(s.idp.issued_access_tokens());
    secrets.extend(s.idp.issued_refresh_tokens());
    for secret in secrets {
        assert!(secret.len() >= 8, "a meaningful secret: {secret}");
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret value was exported in a span"
        );
    }
}

#[sqlx::test]
async fn a_traceparent_from_a_trusted_proxy_continues_its_trace(pool: PgPool) {
    // Arrange: the test client connects from 127.0.0.1, a trusted proxy here.
    let receiver = OtlpReceiver::start().await;
    let (traces, _guard) = install(&traces_config(&receiver.endpoint(), ""));
    let mut config = test_config("");
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    let app = spawn_app(pool, config).await;

    // Act
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("traceparent", client_traceparent())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    traces.flush().await;

    // Assert
    let request = receiver
        .wait_for(Duration::from_secs(5), |span| {
            is_request(span, "GET", "/healthz")
        })
        .await
        .expect("the request's span was exported");
    assert_eq!(request.trace_id, CLIENT_TRACE);
    assert_eq!(request.parent_span_id, CLIENT_SPAN);
}

#[sqlx::test]
async fn requests_stay_fast_while_the_collector_black_holes_exports(pool: PgPool) {
    // Arrange: a collector that accepts connections and never answers.
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!(
        "http://{}/v1/traces",
        black_hole.local_addr().expect("addr")
    );
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = black_hole.accept().await {
            open.push(stream);
        }
    });
    let (traces, _guard) = install(&traces_config(
        &endpoint,
        "export_timeout = \"5s\"\nmax_queue_size = 64\nmax_export_batch_size = 8",
    ));
    let app = spawn_app(pool, test_config("")).await;

    // Act: many more spans than the queue holds, while every export hangs.
    let mut slowest = Duration::ZERO;
    for _ in 0..300 {
        let started = Instant::now();
        let response = app
            .http
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let stopping = Instant::now();
    traces.shutdown(Duration::from_secs(1)).await;
    let stop_took = stopping.elapsed();
    held.abort();

    // Assert: exports never sit on the request path; shutdown is bounded.
    assert!(
        slowest < Duration::from_millis(500),
        "slowest request {slowest:?}"
    );
    assert!(
        stop_took < Duration::from_secs(3),
        "shutdown took {stop_took:?}"
    );
}

#[sqlx::test]
async fn the_served_process_sends_its_last_spans_when_it_stops(pool: PgPool) {
    // Arrange: `serve` as a child process whose batch would wait an hour; only the shutdown
    // flush can deliver its spans.
    let receiver = OtlpReceiver::start().await;
    let database = pool
        .connect_options()
        .get_database()
        .expect("test database")
        .to_owned();
    let port = BridgeProcess::free_port();
    let config = format!(
        "public_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [database]\nurl = \"{}\"\n\
         [crypto]\nactive_key = \"test\"\n[crypto.keys]\ntest = \"{}\"\n\
         [telemetry.traces]\nenabled = true\nendpoint = \"{}\"\nscheduled_delay = \"1h\"\n",
        database_url_for(&database, None),
        crate::app_support::TEST_SEALING_KEY,
        receiver.endpoint(),
    );
    let mut bridge = BridgeProcess::start(port, &config, &[], Duration::from_secs(30)).await;

    // Act
    let response = reqwest::Client::new()
        .get(bridge.url("/healthz"))
        .header("x-request-id", "traces-at-shutdown")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    bridge.terminate();
    let status = bridge.wait_exit(Duration::from_secs(15)).await;

    // Assert
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        bridge.output()
    );
    let span = receiver
        .wait_for(Duration::from_secs(5), |span| {
            span.attribute("request_id") == Some("traces-at-shutdown")
        })
        .await
        .expect("the request's span was sent at shutdown");
    assert_eq!(span.attribute("path"), Some("/healthz"));
}
