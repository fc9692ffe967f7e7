//! When the proxy cannot relay the MCP server's answer: down (502), slow (504), too big (413).
//! Every request is bounded by a timeout, so a proxy that hangs fails the test.

use std::time::Duration;

use bytes::Bytes;
use mcp_auth_bridge::config::HumanDuration;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::time::timeout;

use super::support::{PATIENCE, Setup, closed_port_url, config, rpc, spawn_gateway};

#[tokio::test]
async fn an_mcp_server_that_is_down_is_a_502_with_a_json_body() {
    // Arrange
    let gateway = spawn_gateway(closed_port_url().await, &config()).await;
    let url = format!("http://{gateway}/t/acme/mcp/demo");
    let http = reqwest::Client::new();

    // Act
    let get = timeout(PATIENCE, http.get(&url).send())
        .await
        .expect("in time");
    let post = timeout(
        PATIENCE,
        http.post(&url)
            .json(&rpc(7, "tools/list", json!({})))
            .send(),
    )
    .await
    .expect("in time");

    // Assert
    let get = get.expect("answered");
    assert_eq!(get.status(), StatusCode::BAD_GATEWAY);
    let body: Value = get.json().await.expect("JSON");
    assert_eq!(body["error"], "bad_gateway");
    let post = post.expect("answered");
    assert_eq!(post.status(), StatusCode::BAD_GATEWAY);
    let body: Value = post.json().await.expect("JSON");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!(body["error"]["message"], "MCP server unavailable");
}

#[tokio::test]
async fn a_slow_mcp_server_is_a_504_after_the_first_byte_timeout() {
    // Arrange
    let mut config = config();
    config.first_byte_timeout = HumanDuration(Duration::from_millis(300));
    let mut setup = Setup::with_config(&config).await;
    setup.initialize().await;
    let call = rpc(
        12,
        "tools/call",
        json!({ "name": "slow", "arguments": { "ms": 5000 } }),
    );

    // Act
    let response = timeout(PATIENCE, setup.post().json(&call).send())
        .await
        .expect("the proxy does not wait for the slow server")
        .expect("answered");

    // Assert
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["id"], 12);
    assert_eq!(body["error"]["data"]["status"], 504);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_declared_or_streamed() {
    // Arrange
    let mut config = config();
    config.max_body_bytes = 1024;
    config.replay_buffer_bytes = 256;
    let setup = Setup::with_config(&config).await;
    let padded = rpc(1, "initialize", json!({ "padding": "x".repeat(2048) }));
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 512])));

    // Act
    let declared = timeout(PATIENCE, setup.post().json(&padded).send()).await;
    let streamed = timeout(
        PATIENCE,
        setup
            .http
            .post(&setup.url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send(),
    )
    .await;

    // Assert
    let declared = declared.expect("in time").expect("answered");
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = declared.json().await.expect("JSON");
    assert_eq!(body["error"], "payload_too_large");
    let streamed = streamed.expect("in time").expect("answered");
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(setup.handle.initialize(), 0);
}
