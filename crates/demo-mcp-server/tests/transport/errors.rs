//! Malformed input gets the transport's error shapes, never a 500.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client_support::{Mcp, request};

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
