//! Clients are served from memory at the token endpoint (`oauth::client_cache`, issue 13): a
//! client deleted on one replica must be refused by the other at once, through the
//! `ClientChanged` event, not after the cache's five minutes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    app_support::TestApp,
    gateway::setup,
    oauth_support::{Flow, REDIRECT_URI, query_param},
    replicas::second_replica,
};

/// Polls `b` with a refresh until it answers `invalid_client` (a client it no longer knows);
/// returns how long that took. Bounded to 3 s.
async fn time_to_invalid_client(
    b: &TestApp,
    client_id: &str,
    token: &str,
    since: Instant,
) -> Duration {
    for _ in 0..300 {
        let r = b
            .post_token(
                "acme",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", client_id),
                ],
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status == StatusCode::UNAUTHORIZED && body["error"] == "invalid_client" {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("replica B kept accepting the deleted client");
}

#[sqlx::test]
async fn a_client_deleted_on_one_replica_is_refused_by_the_other_at_once(pool: PgPool) {
    let s = setup(&pool, "").await;
    let b = second_replica(&s, &pool).await;
    let registered = s
        .app
        .post_register(
            "acme",
            &json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
                    "client_name": "Coherence", "scope": "mcp"}),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Value = registered.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let registration_token = registered["registration_access_token"].as_str().unwrap();
    // Authorized and redeemed on A, refreshed on B: B has the client in memory.
    let on_a = Flow::new(&s.app, "acme", &client_id);
    let redirect = on_a
        .run_to_client(&[("resource", &s.mcp_url("demo")), ("scope", "mcp")])
        .await;
    let code = query_param(&redirect, "code").unwrap();
    let tokens: Value = on_a.redeem(&code).await.json().await.unwrap();
    let refreshed = Flow::new(&b, "acme", &client_id)
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        b.state
            .clients
            .get(tenant, &client_id)
            .await
            .map(|c| c.client_id),
        Some(client_id.clone()),
        "B serves the client from memory"
    );

    let deleted_at = Instant::now();
    let deleted = s
        .app
        .http
        .delete(s.app.url(&format!("/t/acme/register/{client_id}")))
        .bearer_auth(registration_token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let token = refreshed["refresh_token"].as_str().unwrap();
    let delay = time_to_invalid_client(&b, &client_id, token, deleted_at).await;

    println!("cross-replica client deletion delay: {delay:?}");
    // The event, not the cache's 5-minute lifetime.
    assert!(delay < Duration::from_millis(500), "{delay:?}");
}
