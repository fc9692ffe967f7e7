//! Signing-key rotation: a new active key signs, the old one stays published (and its tokens
//! keep verifying) until its `publish_until`.

use chrono::{Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    helpers::{spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[sqlx::test]
async fn after_a_rotation_old_tokens_still_verify_and_new_ones_use_the_new_key(pool: PgPool) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let before = flow.tokens().await;
    let old_token = before["access_token"].as_str().unwrap().to_owned();
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();

    let mut conn = pool.acquire().await.unwrap();
    let new_kid = mcp_auth_bridge::tokens::keys::rotate(
        &mut conn,
        tenant,
        &app.state.sealer,
        Utc::now() + Duration::days(30),
    )
    .await
    .unwrap();
    mcp_auth_bridge::coherence::publish(
        &app.state,
        mcp_auth_bridge::coherence::CacheEvent::KeysRotated { tenant },
    )
    .await;

    let jwks: Value = app
        .http
        .get(app.url("/t/acme/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&new_kid.as_str()) && kids.contains(&kid(&old_token).as_str()));
    let old_still_good = app
        .http
        .get(app.url("/t/acme/userinfo"))
        .bearer_auth(&old_token)
        .send()
        .await
        .unwrap();
    assert_eq!(old_still_good.status(), 200);
    let refreshed: Value = flow
        .refresh(before["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kid(refreshed["access_token"].as_str().unwrap()), new_kid);

    sqlx::query("UPDATE signing_keys SET publish_until = now() - interval '1 second' WHERE status = 'retired'").execute(&pool).await.unwrap();
    mcp_auth_bridge::coherence::publish(
        &app.state,
        mcp_auth_bridge::coherence::CacheEvent::KeysRotated { tenant },
    )
    .await;
    let jwks: Value = app
        .http
        .get(app.url("/t/acme/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        1,
        "a retired key leaves the JWKS after publish_until"
    );
}
