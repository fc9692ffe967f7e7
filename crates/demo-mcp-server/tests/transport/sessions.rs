//! Sessions: `initialize` starts one, `DELETE` ends it, requests outside one are refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client_support::{Mcp, read_events, request};

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
