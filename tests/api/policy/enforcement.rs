//! The policy enforced on JSON-RPC calls: allowed calls are forwarded, denied ones answered in
//! their own id and never forwarded, look-alike and duplicate-key tricks refused, step-up
//! asked for with `insufficient_scope`, uninspectable bodies refused.

use reqwest::header;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::support::{call, setup};

const DENIED: i64 = -32003;

#[sqlx::test]
async fn an_allowed_call_is_forwarded_and_a_denied_one_gets_an_error_in_its_id(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let add = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}}});
    let r: Value = s
        .post("demo", &token, Some(&session), add)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("result").is_some(), "{r}");
    assert_eq!(s.mcp.tool_calls(), 1);

    // Denied by a rule (whoami) and by the default (slow): errors in their ids, nothing sent.
    for (id, name) in [(3, "whoami"), (4, "slow")] {
        let r = s
            .post("demo", &token, Some(&session), call(id, name))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["id"], id);
        assert_eq!(body["error"]["code"], DENIED);
    }
    assert_eq!(
        s.mcp.tool_calls(),
        1,
        "denied calls never reach the MCP server"
    );
}

#[sqlx::test]
async fn a_batch_with_a_denied_call_is_refused_whole_and_nothing_is_forwarded(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}},
        {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}},
    ]);
    let before = s.mcp.requests();
    let r = s
        .post("demo", &token, Some(&session), batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let errors = body.as_array().unwrap();
    assert_eq!(
        errors.len(),
        2,
        "one error per request, none for the notification"
    );
    assert_eq!(errors[0]["id"], 10);
    assert_eq!(errors[1]["id"], 11);
    assert!(errors.iter().all(|e| e["error"]["code"] == DENIED));
    assert_eq!(
        s.mcp.requests(),
        before,
        "no part of the batch was forwarded"
    );

    // An all-allowed batch goes through.
    let allowed = json!([{"jsonrpc": "2.0", "id": 12, "method": "ping"}]);
    let r = s
        .post("demo", &token, Some(&session), allowed)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 403);
    assert_eq!(s.mcp.requests(), before + 1);
}

#[sqlx::test]
async fn a_duplicate_name_key_cannot_smuggle_a_denied_tool(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let before = s.mcp.requests();
    for body in [
        // Readers that keep the first key see `echo`, those that keep the last see `whoami`.
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","name":"whoami","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"whoami","name":"echo","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"ping","method":"tools/call","params":{"name":"whoami"}}"#,
    ] {
        let r = s
            .post("demo", &token, Some(&session), json!(null))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"]["code"], -32700);
    }
    assert_eq!(s.mcp.requests(), before);
}

#[sqlx::test]
async fn look_alike_tool_names_fall_to_the_default_deny(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    // Case, a zero-width space, full-width letters, a trailing space, a decomposed accent.
    for name in [
        "Echo",
        "ECHO",
        "echo\u{200b}",
        "\u{ff45}cho",
        "echo ",
        "e\u{301}cho",
    ] {
        let r: Value = s
            .post("demo", &token, Some(&session), call(6, name))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["error"]["code"], DENIED, "{name:?}");
    }
    assert_eq!(s.mcp.tool_calls(), 0);
    // A JSON escape decodes to the very name the server reads: `echo`, allowed.
    let escaped = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"\u0065cho","arguments":{"text":"x"}}}"#;
    let r: Value = s
        .post("demo", &token, Some(&session), json!(null))
        .body(escaped)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"]["content"][0]["text"], "x", "{r}");
}

#[sqlx::test]
async fn a_call_a_scope_would_allow_asks_for_it_and_succeeds_after_step_up(pool: PgPool) {
    let s = setup(&pool, "").await;
    s.idp
        .set_extra_claims(json!({"groups": ["eng"], "realm_access": {"roles": ["admin"]}}));
    let narrow = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &narrow).await;
    let countdown = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {"name": "countdown", "arguments": {"n": 1}}});

    // 1. 403 insufficient_scope naming what is held plus what is missing.
    let r = s
        .post("demo", &narrow, Some(&session), countdown.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="mcp mcp:tools""#),
        "{challenge}"
    );
    assert!(
        challenge.contains("resource_metadata=\"http://127.0.0.1:")
            && challenge.contains("/.well-known/oauth-protected-resource/t/acme/mcp/demo"),
        "{challenge}"
    );
    assert_eq!(s.mcp.tool_calls(), 0);

    // 2. The client asks for the wider scope (the authorization server accepts it) and retries.
    let wide = s.token("demo", "mcp mcp:tools").await;
    let session = s.initialize("demo", &wide).await;
    let r = s
        .post("demo", &wide, Some(&session), countdown)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.mcp.tool_calls(), 1);
}

#[sqlx::test]
async fn bodies_the_gateway_cannot_inspect_are_refused_when_a_policy_needs_them(pool: PgPool) {
    let s = setup(&pool, "\n[gateway]\nreplay_buffer_bytes = 4096\n").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let before = s.mcp.requests();

    let text = s
        .app
        .http
        .post(s.mcp_url("demo"))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .body(call(9, "echo").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);

    let big = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "x".repeat(8192)}}});
    let r = s
        .post("demo", &token, Some(&session), big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        s.mcp.requests(),
        before,
        "nothing uninspected was forwarded"
    );

    // Without a policy the same large body is the MCP server's business.
    let open = s.token("open", "mcp").await;
    let open_session = s.initialize("open", &open).await;
    let big = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "x".repeat(8192)}}});
    let r = s
        .post("open", &open, Some(&open_session), big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
