//! Upstream check mode: the upstream API's verdict on the user's token decides 200 or 401.

use axum::{Router, routing::get};
use demo_mcp_server::{self, DemoMcpOptions};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::client_support::{Mcp, request};

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
