//! The user-context cache: one userinfo call per grant however many cold requests race, a new
//! load after the TTL, and identity headers that follow the reloaded context.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use sqlx::PgPool;

use super::setup;

#[sqlx::test]
async fn two_hundred_concurrent_cold_requests_make_one_userinfo_call(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let before = s.idp.counters().userinfo;

    let requests = (0..200).map(|i| s.post("demo", &token, None, json!({"jsonrpc": "2.0", "id": i, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})).send());
    let statuses: Vec<u16> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(s.idp.counters().userinfo - before, 1);
}

#[sqlx::test]
async fn after_the_ttl_the_user_context_is_loaded_again(pool: PgPool) {
    let s = setup(&pool, "\n[auth]\ncache_ttl = \"1s\"\n").await;
    let token = s.token("demo", "mcp").await;
    let ping = || {
        s.post("demo", &token, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})).send()
    };
    let before = s.idp.counters().userinfo;
    ping().await.unwrap();
    ping().await.unwrap();
    assert_eq!(s.idp.counters().userinfo - before, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ping().await.unwrap();
    assert_eq!(s.idp.counters().userinfo - before, 2);
}

#[sqlx::test]
async fn identity_headers_follow_the_reloaded_user_context(pool: PgPool) {
    let s = setup(&pool, "\n[auth]\ncache_ttl = \"1s\"\n").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let whoami = || async {
        let answer: serde_json::Value = s
            .post(
                "demo",
                &token,
                Some(&session),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let headers = &answer["result"]["structuredContent"]["headers"];
        (
            headers["x-auth-name"].clone(),
            headers["x-auth-assertion"].clone(),
        )
    };
    let (name, assertion) = whoami().await;
    assert_eq!(name, s.idp.user().name.as_str());

    // Within the TTL the cached identity (and its signed assertion) is reused as is.
    s.idp.rename_user("Renamed User");
    assert_eq!(whoami().await, (name, assertion.clone()));

    // After it, the reloaded context's name is what the MCP server sees, in a new assertion.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (renamed, reasserted) = whoami().await;
    assert_eq!(renamed, "Renamed User");
    assert_ne!(reasserted, assertion);
}

#[sqlx::test]
async fn concurrent_cold_requests_for_one_token_share_one_signed_assertion(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    s.app.state.gateway.tokens.forget_identities();

    let (s, token, session) = (&s, &token, &session);
    let calls = (0..50).map(|i| async move {
        let answer: serde_json::Value = s
            .post(
                "demo",
                token,
                Some(session),
                json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["result"]["structuredContent"]["headers"]["x-auth-assertion"].clone()
    });
    let assertions = join_all(calls).await;

    // ES256 signatures are randomized: 50 equal assertions mean one signing.
    assert!(assertions[0].is_string(), "{:?}", assertions[0]);
    assert!(assertions.iter().all(|a| *a == assertions[0]));
}
