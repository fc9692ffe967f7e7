//! MCP traffic through the gateway: initialize, tools, identity headers, SSE, session end.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::setup;

#[sqlx::test]
async fn an_mcp_session_runs_through_the_gateway_with_the_users_identity(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp mcp:tools").await;

    // 1. initialize, tools/list, tools/call.
    let session = s.initialize("demo", &token).await;
    let list: Value = s
        .post(
            "demo",
            &token,
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo")
    );
    let echo: Value = s
        .post("demo", &token, Some(&session), json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hello"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["result"]["content"][0]["text"], "hello");

    // 2. whoami: the gateway's identity headers, none of the client's.
    let who: Value = s
        .post("demo", &token, Some(&session), json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}))
        .header("x-auth-subject", "spoofed-admin")
        .header("X-Auth-Email", "evil@example.test")
        .header("cookie", "session=stolen")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let who = &who["result"]["structuredContent"];
    assert_eq!(who["headers"]["x-auth-subject"], s.idp.user().subject);
    assert_eq!(who["headers"]["x-auth-email"], s.idp.user().email);
    assert_eq!(who["headers"]["x-auth-tenant"], "acme");
    assert_eq!(who["headers"]["x-auth-client-id"], s.client_id);
    assert_eq!(who["headers"]["x-auth-scopes"], "mcp mcp:tools");
    assert!(who["headers"]["x-auth-assertion"].is_string());
    assert_eq!(
        who["authorization_header_present"], false,
        "no token passthrough"
    );
    assert_eq!(who["cookie_present"], false);
    let seen = s.mcp.last_headers();
    assert!(seen.get("authorization").is_none());
    assert_eq!(seen.get_all("x-auth-subject").iter().count(), 1);

    // 3. A GET SSE stream delivers events while open.
    let stream = s
        .app
        .http
        .get(s.mcp_url("demo"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    let mut seen_events = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen_events < 3 {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events arrive while the stream is open")
            .unwrap()
            .unwrap();
        seen_events += String::from_utf8_lossy(&chunk).matches("data:").count();
    }
    drop(body);

    // 4. DELETE ends the session.
    let deleted = s
        .app
        .http
        .delete(s.mcp_url("demo"))
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let after = s
        .post(
            "demo",
            &token,
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
}

#[sqlx::test]
async fn an_mcp_server_that_is_down_gives_502_and_the_gateway_keeps_serving_the_others(
    pool: PgPool,
) {
    let s = setup(&pool, "").await;
    let down_token = s.token("down", "mcp").await;
    let r = s
        .post(
            "down",
            &down_token,
            None,
            json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], 7, "a JSON-RPC error for a JSON-RPC request");
    let token = s.token("demo", "mcp").await;
    s.initialize("demo", &token).await;
}
