//! Google: `access_type=offline` and `prompt=consent`, so every login (not only the first
//! consent) brings a refresh token; ID token checked.

use sqlx::PgPool;

use super::{Bench, all_endpoints, assert_user, assert_userinfo, tenant_toml, the_grant};
use crate::support::fake_idp::{FakeIdpOptions, ProviderMode};

#[sqlx::test]
async fn google_logins_ask_for_offline_access_with_consent_and_store_the_refresh_token(
    pool: PgPool,
) {
    let bench = Bench::start(
        &pool,
        FakeIdpOptions::for_mode(ProviderMode::Google),
        |idp| tenant_toml(idp, "google", &all_endpoints(idp, true), ""),
    )
    .await;

    let tokens = bench.login().await;

    assert_eq!(
        bench.authorize_param("access_type").as_deref(),
        Some("offline")
    );
    assert_eq!(bench.authorize_param("prompt").as_deref(), Some("consent"));
    assert_eq!(bench.requested_scopes(), ["openid", "email", "profile"]);
    assert!(bench.authorize_param("nonce").is_some());
    assert!(bench.idp.counters().jwks >= 1, "the ID token was checked");
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh);
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");

    // A second login of the same user: Google sends a refresh token again only with consent.
    bench.login().await;
    let with_refresh: i64 =
        sqlx::query_scalar("SELECT count(*) FROM grants WHERE upstream_refresh_token IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(with_refresh, 2);
}
