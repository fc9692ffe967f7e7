//! Atlassian: `audience=api.atlassian.com`, `prompt=consent`, `offline_access`; the user from
//! `/me`, the cloud sites from accessible-resources kept in the user context.

use sqlx::PgPool;

use super::{Bench, all_endpoints, assert_user, assert_userinfo, tenant_toml, the_grant};
use crate::support::fake_idp::{FakeIdpOptions, ProviderMode};

#[sqlx::test]
async fn atlassian_logins_carry_the_audience_and_keep_the_users_cloud_sites(pool: PgPool) {
    let bench = Bench::start(
        &pool,
        FakeIdpOptions::for_mode(ProviderMode::Atlassian),
        |idp| tenant_toml(idp, "atlassian", &all_endpoints(idp, false), ""),
    )
    .await;

    let tokens = bench.login().await;

    assert_eq!(
        bench.authorize_param("audience").as_deref(),
        Some("api.atlassian.com")
    );
    assert_eq!(bench.authorize_param("prompt").as_deref(), Some("consent"));
    assert_eq!(bench.authorize_param("nonce"), None, "not OIDC");
    let scopes = bench.requested_scopes();
    assert!(
        scopes.contains(&"offline_access".to_owned()) && scopes.contains(&"read:me".to_owned())
    );
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh);
    let sites = grant.user["claims"]["accessible_resources"]
        .as_array()
        .unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["id"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(sites[0]["url"], "https://fake-site.atlassian.net");
    assert!(
        sites[0]["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "read:me")
    );
    assert_eq!(sites[0].get("avatarUrl"), None);
    assert_eq!(grant.user["claims"]["account_id"], "user-1");
    assert_eq!(bench.idp.counters().accessible_resources, 1);
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}

#[sqlx::test]
async fn without_a_userinfo_override_the_resources_are_fetched_from_the_configured_api_host(
    pool: PgPool,
) {
    // Only `/me` overridden: accessible-resources follows it to the same origin.
    let bench = Bench::start(
        &pool,
        FakeIdpOptions::for_mode(ProviderMode::Atlassian),
        |idp| {
            let endpoints = format!(
                "authorization_url = \"{}\"\ntoken_url = \"{}\"\nuserinfo_url = \"{}\"",
                idp.authorization_url(),
                idp.token_url(),
                idp.userinfo_url()
            );
            tenant_toml(idp, "atlassian", &endpoints, "")
        },
    )
    .await;
    bench.login().await;
    assert_eq!(bench.idp.counters().accessible_resources, 1);
}
