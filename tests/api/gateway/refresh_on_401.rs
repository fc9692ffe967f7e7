//! Refresh and retry when the upstream refuses the user's token: during a user-context load
//! (userinfo 401), and when an MCP server that receives the upstream token answers 401.

use std::time::Duration;

use demo_mcp_server::{self, DemoMcpOptions};
use futures_util::future::join_all;
use serde_json::json;
use sqlx::PgPool;

use super::setup;
use crate::{
    app_support::{spawn_app, test_config},
    oauth_support::{REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

fn init(id: u32) -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

#[sqlx::test]
async fn an_upstream_401_during_a_user_context_load_refreshes_once_retries_once_and_succeeds(
    pool: PgPool,
) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    s.idp.expire_all_access_tokens();
    let before = s.idp.counters();

    let r = s.post("demo", &token, None, init(1)).send().await.unwrap();

    assert_eq!(r.status(), 200);
    let after = s.idp.counters();
    assert_eq!(after.token_refresh - before.token_refresh, 1, "one refresh");
    assert_eq!(
        after.userinfo - before.userinfo,
        2,
        "the refused call and one retry"
    );
}

/// A tenant whose MCP server receives the user's upstream token and checks it against the
/// IdP's API, as a real MCP server calling an upstream API would.
async fn forwarding(pool: &PgPool) -> (FakeIdp, crate::app_support::TestApp, String) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let check = idp.api_url().parse().unwrap();
    let (addr, _mcp) = demo_mcp_server::spawn(DemoMcpOptions {
        upstream_check_url: Some(check),
        tick: Duration::from_millis(50),
        ..DemoMcpOptions::default()
    })
    .await
    .unwrap();
    let servers = format!(
        "[[tenants.mcp_servers]]\nname = \"api\"\nurl = \"http://{addr}/mcp\"\nforward_upstream_token = true\n"
    );
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, &servers))).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    let flow = crate::oauth_support::Flow::new(&app, "acme", &client_id);
    let resource = app.url("/t/acme/mcp/api");
    let redirect = flow
        .run_to_client(&[("resource", &resource), ("scope", "mcp")])
        .await;
    let code = crate::oauth_support::query_param(&redirect, "code").unwrap();
    let tokens: serde_json::Value = flow.redeem(&code).await.json().await.unwrap();
    (
        idp,
        app,
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

fn post(app: &crate::app_support::TestApp, token: &str, id: u32) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/t/acme/mcp/api"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&init(id))
}

#[sqlx::test]
async fn an_mcp_server_refusing_the_forwarded_upstream_token_gets_one_refresh_and_one_replay(
    pool: PgPool,
) {
    let (idp, app, token) = forwarding(&pool).await;
    assert_eq!(
        post(&app, &token, 1).send().await.unwrap().status(),
        200,
        "warm: the upstream token is good"
    );
    idp.expire_all_access_tokens();
    let before = idp.counters().token_refresh;

    let r = post(&app, &token, 2).send().await.unwrap();

    assert_eq!(r.status(), 200, "the client sees success");
    assert_eq!(idp.counters().token_refresh - before, 1);
}

#[sqlx::test]
async fn fifty_concurrent_requests_refused_with_the_same_upstream_token_cause_one_refresh(
    pool: PgPool,
) {
    let (idp, app, token) = forwarding(&pool).await;
    assert_eq!(post(&app, &token, 1).send().await.unwrap().status(), 200);
    idp.expire_all_access_tokens();
    let before = idp.counters().token_refresh;

    let statuses: Vec<u16> = join_all((0..50).map(|i| post(&app, &token, i + 2).send()))
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(idp.counters().token_refresh - before, 1);
}

#[sqlx::test]
async fn a_refresh_that_fails_for_good_makes_the_client_reauthorize_and_a_transient_failure_gives_503(
    pool: PgPool,
) {
    let (idp, app, token) = forwarding(&pool).await;
    assert_eq!(post(&app, &token, 1).send().await.unwrap().status(), 200);

    idp.expire_all_access_tokens();
    idp.fail_token_requests_forever(503);
    let r = post(&app, &token, 2).send().await.unwrap();
    assert_eq!(r.status(), 503, "a transient IdP failure is never a 401");
    assert!(r.headers().get("retry-after").is_some());

    // The grant backs off after the failure: the next request does not call the IdP.
    idp.heal();
    let calls = idp.counters().token_refresh;
    let r = post(&app, &token, 3).send().await.unwrap();
    assert_eq!(r.status(), 503, "backing off");
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(
        idp.counters().token_refresh,
        calls,
        "no IdP call while backing off"
    );

    // Once the pause is over (here: cleared), the IdP's refusal ends the grant.
    sqlx::query("UPDATE grants SET refresh_not_before = NULL")
        .execute(&pool)
        .await
        .unwrap();
    idp.invalid_grant_on_next_refresh();
    let r = post(&app, &token, 4).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error=\"invalid_token\"") && challenge.contains("authorize again"),
        "{challenge}"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM grants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "needs_reauth");
}

#[sqlx::test]
async fn an_mcp_server_refusing_every_upstream_token_gets_one_refresh_per_interval_not_one_per_request(
    pool: PgPool,
) {
    // Arrange: the MCP server refused the user's token once; the bridge refreshed and replayed.
    let (idp, app, token) = forwarding(&pool).await;
    idp.expire_all_access_tokens();
    assert_eq!(post(&app, &token, 1).send().await.unwrap().status(), 200);
    let before = idp.counters().token_refresh;

    // Act: the server now refuses every token it is given (here: the IdP's API says expired).
    idp.expire_all_access_tokens();
    let mut statuses = Vec::new();
    for i in 0..10 {
        let r = post(&app, &token, i + 2).send().await.unwrap();
        statuses.push((
            r.status().as_u16(),
            r.headers().get("retry-after").is_some(),
        ));
    }

    // Assert: no refresh within `auth.upstream_min_refresh_interval`; 503 with Retry-After.
    assert_eq!(idp.counters().token_refresh, before);
    assert!(statuses.iter().all(|s| *s == (503, true)), "{statuses:?}");
}
