//! The whole authorization flow against the fake upstream IdP, as an MCP client and a browser
//! drive it: discovery → authorize → consent → upstream → callback → token → userinfo →
//! refresh → revoke.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client, query_param},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

#[sqlx::test]
async fn a_client_logs_in_through_the_upstream_idp_and_uses_refreshes_and_revokes_its_tokens(
    pool: PgPool,
) {
    // Arrange
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);

    // 1. Discovery: protected resource → authorization server metadata.
    let prm: Value = app
        .get("/.well-known/oauth-protected-resource/t/acme/mcp/tools")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], app.url("/t/acme/mcp/tools"));
    let issuer = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    let meta: Value = app
        .get("/.well-known/oauth-authorization-server/t/acme")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], issuer);
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    // 2–4. Authorize, consent, upstream login, callback.
    let redirect = flow
        .run_to_client(&[
            ("resource", &app.url("/t/acme/mcp/tools")),
            ("scope", "mcp mcp:tools"),
        ])
        .await;
    assert!(redirect.starts_with(REDIRECT_URI));
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("client-state-1")
    );
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(issuer.as_str())
    );
    let code = query_param(&redirect, "code").unwrap();

    // 5. Token.
    let response = flow.redeem(&code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "mcp mcp:tools");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // 6. Userinfo.
    let me: Value = app
        .get_userinfo("acme", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], idp.user().subject);
    assert_eq!(me["email"], idp.user().email);

    // 7. Refresh rotates.
    let refreshed: Value = flow.refresh(&refresh).await.json().await.unwrap();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    let new_access = refreshed["access_token"].as_str().unwrap().to_owned();

    // 8. Revoke the refresh token: the family and its access tokens stop working.
    let revoked = app
        .post_revoke(
            "acme",
            &[("token", new_refresh.as_str()), ("client_id", &client_id)],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        flow.refresh(&new_refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    for token in [&access, &new_access] {
        let r = app.get_userinfo("acme", token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }

    // The upstream saw exactly one code exchange and no refresh.
    let c = idp.counters();
    assert_eq!((c.token_authorization_code, c.token_refresh), (1, 0));
}

#[sqlx::test]
async fn upstream_tokens_are_stored_sealed_and_codes_and_refresh_tokens_only_as_hashes(
    pool: PgPool,
) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let code = flow.code().await;
    let tokens: Value = flow.redeem(&code).await.json().await.unwrap();

    let upstream_access = idp.last_access_token().unwrap();
    let (sealed_access, key_id): (Vec<u8>, String) =
        sqlx::query_as("SELECT upstream_access_token, upstream_access_key_id FROM grants")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(key_id, "test");
    assert!(
        !sealed_access
            .windows(upstream_access.len().min(16))
            .any(|w| upstream_access.as_bytes().starts_with(w))
    );
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(t::text, ' ') FROM (SELECT row_to_json(c)::text AS t FROM authorization_codes c
         UNION ALL SELECT row_to_json(r)::text FROM refresh_tokens r) x",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!dump.contains(&code));
    assert!(!dump.contains(tokens["refresh_token"].as_str().unwrap()));
}
