//! Signing-key rotation: a new active key signs, the old one stays published (and its tokens
//! keep verifying) until its `publish_until`.

use chrono::{Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{spawn_app, test_config},
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
        &app.state.caches,
        mcp_auth_bridge::coherence::CacheEvent::KeysRotated { tenant },
    )
    .await;

    let jwks: Value = app.get("/t/acme/jwks.json").await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&new_kid.as_str()) && kids.contains(&kid(&old_token).as_str()));
    let old_still_good = app.get_userinfo("acme", &old_token).await;
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
        &app.state.caches,
        mcp_auth_bridge::coherence::CacheEvent::KeysRotated { tenant },
    )
    .await;
    let jwks: Value = app.get("/t/acme/jwks.json").await.json().await.unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        1,
        "a retired key leaves the JWKS after publish_until"
    );
}

#[sqlx::test]
async fn a_signing_key_that_no_longer_opens_is_replaced_and_tokens_it_signed_keep_verifying(
    pool: PgPool,
) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let old_token = Flow::new(&app, "acme", &client_id).tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = kid(&old_token);
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let userinfo = |token: String| {
        let request = app.http.get(app.url("/t/acme/userinfo")).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };

    // 1. The active private key no longer opens (sealed under the same key id with other bytes,
    //    as after a dev-mode restart with a new ephemeral key); this replica reloads its keys and
    //    has just verified the old token (its published keys are fresh).
    let other = mcp_auth_bridge::crypto::Sealer::single("test", [9; 32]);
    let unopenable = other.seal(b"not this key", &format!("signing_key:{old_kid}"));
    sqlx::query("UPDATE signing_keys SET private_key = $1 WHERE kid = $2")
        .bind(&unopenable.blob)
        .bind(&old_kid)
        .execute(&pool)
        .await
        .unwrap();
    app.state.keys.forget(tenant).await;
    assert_eq!(userinfo(old_token.clone()).await, 200);

    // 2. The next token is signed with a new key, and verifies at once.
    let new_token = Flow::new(&app, "acme", &client_id).tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(kid(&new_token), old_kid);
    assert_eq!(userinfo(new_token).await, 200, "not refused for 30 s");

    // 3. The old public key is still published and the old token still verifies.
    let jwks: Value = app.get("/t/acme/jwks.json").await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&old_kid.as_str()), "{kids:?}");
    app.state.keys.forget(tenant).await;
    assert_eq!(userinfo(old_token).await, 200);
}
