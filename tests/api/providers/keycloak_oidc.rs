//! Keycloak (realm layout) and generic OIDC (discovery, or every endpoint configured).

use sqlx::PgPool;

use super::{Bench, about_in, all_endpoints, assert_user, assert_userinfo, tenant_toml, the_grant};
use crate::support::fake_idp::{FakeIdpOptions, IdTokenAlg, ProviderMode};

fn rs256(mode: ProviderMode) -> FakeIdpOptions {
    FakeIdpOptions {
        id_token_alg: IdTokenAlg::Rs256,
        ..FakeIdpOptions::for_mode(mode)
    }
}

#[sqlx::test]
async fn keycloak_from_the_realm_url_alone_asks_for_offline_access_and_checks_an_rs256_id_token(
    pool: PgPool,
) {
    let bench = Bench::start(&pool, rs256(ProviderMode::Keycloak), |idp| {
        tenant_toml(
            idp,
            "keycloak",
            &format!("issuer = \"{}\"", idp.issuer()),
            "",
        )
    })
    .await;

    let tokens = bench.login().await;

    let scopes = bench.requested_scopes();
    for s in ["openid", "email", "profile", "offline_access"] {
        assert!(scopes.iter().any(|x| x == s), "{s} missing from {scopes:?}");
    }
    assert!(bench.authorize_param("nonce").is_some());
    assert!(bench.idp.counters().jwks >= 1, "the ID token was checked");
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh);
    about_in(grant.access_expires_at, 3600);
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}

#[sqlx::test]
async fn an_oidc_provider_is_found_through_discovery(pool: PgPool) {
    let bench = Bench::start(&pool, FakeIdpOptions::for_mode(ProviderMode::Oidc), |idp| {
        tenant_toml(idp, "oidc", &format!("issuer = \"{}\"", idp.issuer()), "")
    })
    .await;

    let tokens = bench.login().await;

    assert!(bench.idp.counters().discovery >= 1);
    assert!(
        bench
            .requested_scopes()
            .contains(&"offline_access".to_owned())
    );
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh, "offline_access brought a refresh token");
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}

#[sqlx::test]
async fn an_oidc_provider_with_every_endpoint_configured_needs_no_discovery(pool: PgPool) {
    let bench = Bench::start(&pool, rs256(ProviderMode::Oidc), |idp| {
        tenant_toml(idp, "oidc", &all_endpoints(idp, true), "")
    })
    .await;

    let tokens = bench.login().await;

    let c = bench.idp.counters();
    assert_eq!(c.discovery, 0);
    assert!(c.jwks >= 1 && c.userinfo >= 1);
    assert_user(&the_grant(&pool).await, &bench.idp, "user-1");
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}
