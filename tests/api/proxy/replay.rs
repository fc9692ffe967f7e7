//! `forward_replayable`: a 401 from the MCP server (its upstream API rejected the user's token)
//! comes back with a replayable request, which succeeds once the upstream token is refreshed.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::{Router, body::Body, extract::Request, http::StatusCode, routing::get};
use bytes::Bytes;
use demo_mcp_server::{self, DemoMcpHandle, DemoMcpOptions};
use mcp_auth_bridge::gateway::{Forwarded, Identity, Proxy};
use reqwest::header;
use serde_json::json;
use tokio::time::timeout;

use super::support::{PATIENCE, config, identity, rpc};

/// A stand-in upstream API that accepts `Bearer new` only, and counts the checks.
async fn spawn_upstream_api() -> (url::Url, Arc<AtomicU64>) {
    let checks = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&checks);
    let app = Router::new().route(
        "/check",
        get(move |headers: axum::http::HeaderMap| async move {
            counted.fetch_add(1, Ordering::Relaxed);
            match headers.get(header::AUTHORIZATION) {
                Some(v) if v == "Bearer new" => StatusCode::OK,
                _ => StatusCode::UNAUTHORIZED,
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = url::Url::parse(&format!("http://{addr}/check")).expect("url");
    (url, checks)
}

/// A demo MCP server in upstream check mode.
async fn spawn_checked_mcp() -> (url::Url, DemoMcpHandle, Arc<AtomicU64>) {
    let (check, checks) = spawn_upstream_api().await;
    let options = DemoMcpOptions {
        upstream_check_url: Some(check),
        ..DemoMcpOptions::default()
    };
    let (addr, handle) = demo_mcp_server::spawn(options).await.expect("demo server");
    let url = url::Url::parse(&format!("http://{addr}/mcp")).expect("url");
    (url, handle, checks)
}

fn with_token(token: &str) -> Identity {
    Identity {
        upstream_token: Some(token.into()),
        ..identity()
    }
}

fn initialize_request(body: Body) -> Request {
    Request::builder()
        .method("POST")
        .uri("/t/acme/mcp/demo")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(body)
        .expect("a valid request")
}

#[tokio::test]
async fn a_401_is_replayed_with_the_refreshed_upstream_token() {
    // Arrange
    let (upstream, handle, checks) = spawn_checked_mcp().await;
    let proxy = Proxy::new(&config());
    let body = rpc(0, "initialize", json!({ "protocolVersion": "2025-11-25" })).to_string();
    let request = initialize_request(Body::from(body));

    // Act
    let first = timeout(
        PATIENCE,
        proxy.forward_replayable(request, &upstream, "", &with_token("old").headers()),
    )
    .await
    .expect("in time");
    let Forwarded::Unauthorized { response, replay } = first else {
        panic!("expected a 401 from the MCP server");
    };
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    drop(response);
    let replay = replay.expect("a small body is replayable");
    let second = timeout(PATIENCE, replay.send(&proxy, &with_token("new").headers()))
        .await
        .expect("in time");

    // Assert
    assert_eq!(second.status(), StatusCode::OK);
    assert!(second.headers().contains_key("mcp-session-id"));
    assert_eq!(checks.load(Ordering::Relaxed), 2);
    assert_eq!(handle.initialize(), 1);
    assert_eq!(handle.last_headers()["x-auth-upstream-token"], "new");
}

#[tokio::test]
async fn a_streamed_body_larger_than_the_replay_buffer_is_not_replayable() {
    // Arrange
    let (upstream, handle, _checks) = spawn_checked_mcp().await;
    let mut config = config();
    config.replay_buffer_bytes = 64;
    let proxy = Proxy::new(&config);
    let body = rpc(0, "initialize", json!({ "padding": "x".repeat(500) })).to_string();
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .into_bytes()
        .chunks(100)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let request = initialize_request(Body::from_stream(futures_util::stream::iter(chunks)));

    // Act
    let forwarded = timeout(
        PATIENCE,
        proxy.forward_replayable(request, &upstream, "", &with_token("old").headers()),
    )
    .await
    .expect("in time");

    // Assert
    let Forwarded::Unauthorized { response, replay } = forwarded else {
        panic!("expected a 401 from the MCP server");
    };
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(replay.is_none());
    assert_eq!(handle.upstream_rejections(), 1);
}
