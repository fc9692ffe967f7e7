//! `Upstream::revoke`: RFC 7009 form POSTs with client authentication, GitHub's DELETE, and a
//! no-op where a provider has no revocation endpoint.

use mcp_auth_bridge::upstream::UpstreamError;
use sqlx::PgPool;

use super::{Bench, all_endpoints, tenant_toml, upstream_for};
use crate::support::fake_idp::{FakeIdp, FakeIdpOptions, ProviderMode};

async fn bench(
    pool: &PgPool,
    mode: ProviderMode,
    kind: &str,
    endpoints: fn(&FakeIdp) -> String,
) -> Bench {
    Bench::start(pool, FakeIdpOptions::for_mode(mode), |idp| {
        tenant_toml(idp, kind, &endpoints(idp), "")
    })
    .await
}

#[sqlx::test]
async fn revoking_a_keycloak_refresh_token_ends_its_grant_upstream(pool: PgPool) {
    let b = bench(&pool, ProviderMode::Keycloak, "keycloak", |idp| {
        format!("issuer = \"{}\"", idp.issuer())
    })
    .await;
    let minted = b.idp.mint_tokens("openid offline_access", true);
    let refresh = minted.refresh_token.unwrap();
    let (upstream, provider) = upstream_for(&b.app).await;

    upstream
        .revoke("acme", &provider, &refresh, "refresh_token")
        .await
        .unwrap();

    assert_eq!(b.idp.counters().revoke, 1);
    assert!(!b.idp.is_refresh_token_valid(&refresh));
    assert!(!b.idp.is_access_token_valid(&minted.access_token));
}

/// Revokes a grant's tokens: the refresh token goes, and its access tokens with it.
async fn revoke_by_form_post(pool: PgPool, mode: ProviderMode, kind: &str) {
    let b = bench(&pool, mode, kind, |idp| all_endpoints(idp, true)).await;
    let minted = b.idp.mint_tokens("openid", true);
    let (upstream, provider) = upstream_for(&b.app).await;

    upstream
        .revoke_grant_tokens(
            "acme",
            &provider,
            Some(&minted.access_token),
            minted.refresh_token.as_deref(),
        )
        .await
        .unwrap();

    assert_eq!(b.idp.counters().revoke, 1);
    let refresh = minted.refresh_token.unwrap();
    assert!(!b.idp.is_refresh_token_valid(&refresh));
    assert!(!b.idp.is_access_token_valid(&minted.access_token));
}

#[sqlx::test]
async fn google_revokes_by_form_post_with_the_bare_token(pool: PgPool) {
    revoke_by_form_post(pool, ProviderMode::Google, "google").await;
}

#[sqlx::test]
async fn salesforce_revokes_by_form_post(pool: PgPool) {
    revoke_by_form_post(pool, ProviderMode::Salesforce, "salesforce").await;
}

#[sqlx::test]
async fn github_tokens_are_revoked_with_delete_and_basic_auth(pool: PgPool) {
    let b = bench(&pool, ProviderMode::Github { app: true }, "github", |idp| {
        all_endpoints(idp, false)
    })
    .await;
    let minted = b.idp.mint_tokens("read:user", true);
    let (upstream, provider) = upstream_for(&b.app).await;

    // Refresh tokens cannot be revoked at GitHub: nothing is sent.
    let refresh = minted.refresh_token.unwrap();
    upstream
        .revoke("acme", &provider, &refresh, "refresh_token")
        .await
        .unwrap();
    assert_eq!(b.idp.counters().revoke, 0);

    upstream
        .revoke_grant_tokens(
            "acme",
            &provider,
            Some(&minted.access_token),
            Some(&refresh),
        )
        .await
        .unwrap();

    assert_eq!(b.idp.counters().revoke, 1);
    assert!(!b.idp.is_access_token_valid(&minted.access_token));
}

#[sqlx::test]
async fn atlassian_has_no_revocation_endpoint_unless_one_is_configured(pool: PgPool) {
    let b = bench(&pool, ProviderMode::Atlassian, "atlassian", |idp| {
        format!(
            "authorization_url = \"{}\"\ntoken_url = \"{}\"\nuserinfo_url = \"{}\"",
            idp.authorization_url(),
            idp.token_url(),
            idp.userinfo_url()
        )
    })
    .await;
    let minted = b.idp.mint_tokens("read:me", false);
    let (upstream, provider) = upstream_for(&b.app).await;

    upstream
        .revoke("acme", &provider, &minted.access_token, "access_token")
        .await
        .unwrap();

    assert_eq!(b.idp.counters().revoke, 0);
    assert!(b.idp.is_access_token_valid(&minted.access_token));
}

#[sqlx::test]
async fn a_refused_revocation_is_reported_to_the_caller(pool: PgPool) {
    let b = Bench::start(
        &pool,
        FakeIdpOptions::for_mode(ProviderMode::Keycloak),
        |idp| {
            tenant_toml(idp, "keycloak", &all_endpoints(idp, true), "")
                .replace(&idp.client_secret(), "not-the-secret")
        },
    )
    .await;
    let minted = b.idp.mint_tokens("openid", false);
    let (upstream, provider) = upstream_for(&b.app).await;

    let result = upstream
        .revoke("acme", &provider, &minted.access_token, "access_token")
        .await;

    assert!(
        matches!(result, Err(UpstreamError::Rejected(_))),
        "{result:?}"
    );
    assert!(b.idp.is_access_token_valid(&minted.access_token));
}
