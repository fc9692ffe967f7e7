//! Microsoft Entra ID, Okta and Auth0 (issue 15 item 7), each against the fake IdP in a mode
//! that imitates it: Entra's tenant-independent issuer template and rotating refresh tokens,
//! Okta's rotation grace period, Auth0's `audience` and trailing-slash issuer.

use std::time::Duration;

use mcp_auth_bridge::upstream::refresh::{RefreshError, RefreshPolicy};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Bench, assert_user, assert_userinfo, tenant_toml, the_grant};
use crate::{
    oauth_support::query_param,
    refresh::support::{later, quick_policy, status_and_version, stored_refresh_token},
    support::fake_idp::{FakeIdp, FakeIdpOptions, IdTokenAlg, ProviderMode},
};

fn rs256(mode: ProviderMode) -> FakeIdpOptions {
    FakeIdpOptions {
        id_token_alg: IdTokenAlg::Rs256,
        ..FakeIdpOptions::for_mode(mode)
    }
}

fn issuer(url: &str) -> String {
    format!("issuer = \"{url}\"")
}

async fn grant_id(pool: &PgPool) -> Uuid {
    sqlx::query_scalar("SELECT id FROM grants")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn asked_offline_access(bench: &Bench) {
    let scopes = bench.requested_scopes();
    for s in ["openid", "email", "profile", "offline_access"] {
        assert!(scopes.iter().any(|x| x == s), "{s} missing from {scopes:?}");
    }
}

async fn entra_common(pool: &PgPool) -> Bench {
    Bench::start(pool, rs256(ProviderMode::Entra), |idp: &FakeIdp| {
        tenant_toml(idp, "entra", &issuer(&idp.entra_common_issuer()), "")
    })
    .await
}

#[sqlx::test]
async fn entra_common_checks_the_id_token_issuer_against_its_own_tenant_id(pool: PgPool) {
    let bench = entra_common(&pool).await;

    let tokens = bench.login().await;

    // The `/common` discovery document names `{tenantid}`; the ID token's issuer is its tenant's.
    assert!(bench.idp.counters().discovery >= 1);
    assert!(bench.idp.counters().jwks >= 1, "the ID token was checked");
    asked_offline_access(&bench);
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh, "offline_access brought a refresh token");
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
    let request = bench.idp.last_token_request().unwrap();
    assert!(
        request.contains_key("client_secret"),
        "Entra gets the secret in the form body"
    );
}

#[sqlx::test]
async fn entra_refuses_an_id_token_whose_issuer_is_not_its_tenant_ids(pool: PgPool) {
    // Attack: a token signed with the shared keys, issued in one directory, claiming another
    // (`iss` of the fake's tenant, `tid` of a different one).
    let bench = entra_common(&pool).await;
    bench
        .idp
        .set_id_token_claims(json!({"tid": "11111111-2222-4333-8444-555555555555"}));

    let redirect = bench.flow().run_to_client(&[]).await;

    assert!(query_param(&redirect, "error").is_some(), "{redirect}");
    assert_eq!(query_param(&redirect, "code"), None);
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM grants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(grants, 0);
}

#[sqlx::test]
async fn entra_refuses_a_tenant_id_that_is_not_a_guid(pool: PgPool) {
    // Attack: a `tid` that would steer the expected issuer elsewhere.
    let bench = entra_common(&pool).await;
    let base = bench.idp.base_url();
    bench.idp.set_id_token_claims(
        json!({"tid": "x/../../evil", "iss": format!("{base}/x/../../evil/v2.0")}),
    );

    let redirect = bench.flow().run_to_client(&[]).await;

    assert!(query_param(&redirect, "error").is_some(), "{redirect}");
}

#[sqlx::test]
async fn entra_rotates_refresh_tokens_and_the_bridge_sends_the_newest(pool: PgPool) {
    let bench = entra_common(&pool).await;
    bench.login().await;
    let grant = grant_id(&pool).await;
    let refresher = bench
        .app
        .state
        .refresher
        .clone()
        .with_policy(quick_policy());
    let first = stored_refresh_token(&bench.app, grant).await.unwrap();

    refresher.access_token(grant, later()).await.unwrap();
    let second = stored_refresh_token(&bench.app, grant).await.unwrap();
    refresher
        .access_token(grant, later() + chrono::Duration::hours(2))
        .await
        .unwrap();

    assert_ne!(first, second, "the rotated token was stored");
    let sent = bench.idp.last_token_request().unwrap();
    assert_eq!(sent.get("refresh_token"), Some(&second));
    assert_eq!(bench.idp.counters().token_refresh, 2);
}

/// Okta with an answer lost after the IdP rotated: the bridge waits `after_ambiguous` and
/// sends the same refresh token again.
async fn okta_refresh_after_a_lost_answer(
    pool: &PgPool,
    grace: Duration,
) -> Result<(), RefreshError> {
    let bench = Bench::start(pool, rs256(ProviderMode::Okta), |idp: &FakeIdp| {
        tenant_toml(idp, "okta", &issuer(&idp.issuer()), "")
    })
    .await;
    bench.login().await;
    asked_offline_access(&bench);
    let grant = grant_id(pool).await;
    bench.idp.set_rotation_grace(grace);
    let policy = RefreshPolicy {
        after_ambiguous: Duration::from_secs(1),
        ..quick_policy()
    };
    let refresher = bench.app.state.refresher.clone().with_policy(policy);
    // The IdP processes (and rotates) but answers only after the call timed out.
    bench.idp.set_token_answer_delay(Duration::from_secs(2));

    let lost = refresher.access_token(grant, later()).await;
    assert!(
        matches!(lost, Err(RefreshError::Unavailable { .. })),
        "{lost:?}"
    );
    bench.idp.set_token_answer_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retried = refresher.access_token(grant, later()).await.map(|_| ());
    assert_eq!(bench.idp.counters().token_refresh, 2);
    retried
}

#[sqlx::test]
async fn okta_grace_period_lets_the_bridge_resend_a_refresh_token_whose_answer_was_lost(
    pool: PgPool,
) {
    let retried = okta_refresh_after_a_lost_answer(&pool, Duration::from_secs(30)).await;

    assert!(retried.is_ok(), "{retried:?}");
    let grant = grant_id(&pool).await;
    assert_eq!(status_and_version(&pool, grant).await.0, "active");
}

#[sqlx::test]
async fn without_a_grace_period_the_same_lost_answer_ends_the_grant(pool: PgPool) {
    // Why `auth.upstream_refresh_after_ambiguous` must stay below Okta's grace period.
    let retried = okta_refresh_after_a_lost_answer(&pool, Duration::ZERO).await;

    assert!(retried.is_err(), "strict rotation refuses the spent token");
    let grant = grant_id(&pool).await;
    assert_ne!(status_and_version(&pool, grant).await.0, "active");
}

#[sqlx::test]
async fn auth0_sends_the_configured_audience_and_accepts_its_trailing_slash_issuer(pool: PgPool) {
    let bench = Bench::start(&pool, rs256(ProviderMode::Auth0), |idp: &FakeIdp| {
        tenant_toml(
            idp,
            "auth0",
            &issuer(&idp.issuer()),
            "audience = \"https://api.example.test\"",
        )
    })
    .await;
    assert!(bench.idp.issuer().ends_with('/'));

    let tokens = bench.login().await;

    assert_eq!(
        bench.authorize_param("audience").as_deref(),
        Some("https://api.example.test")
    );
    asked_offline_access(&bench);
    assert!(bench.idp.counters().jwks >= 1, "the ID token was checked");
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh);
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}
