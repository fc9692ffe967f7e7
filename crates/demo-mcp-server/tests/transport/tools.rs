//! The tools: listing, calling, and the countdown as SSE or as plain JSON.

use reqwest::header;
use serde_json::{Value, json};

use super::client_support::{Mcp, read_events, request};

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
async fn an_unknown_tool_is_invalid_params() {
    let mcp = Mcp::initialized().await;

    let response = mcp.call("tools/call", json!({ "name": "rm-rf" })).await;

    assert_eq!(response["error"]["code"], -32602);
}
