//! Salesforce: host from `issuer`, `refresh_token` scope, `instance_url`/`id` kept, the user read
//! on the instance, and a configured lifetime for tokens that come without `expires_in`.

use serde_json::Value;
use sqlx::PgPool;

use super::{Bench, about_in, all_endpoints, assert_user, assert_userinfo, tenant_toml, the_grant};
use crate::support::fake_idp::{FakeIdpOptions, ProviderMode};

fn opts() -> FakeIdpOptions {
    FakeIdpOptions::for_mode(ProviderMode::Salesforce)
}

#[sqlx::test]
async fn salesforce_logins_keep_the_instance_and_use_the_configured_lifetime(pool: PgPool) {
    let bench = Bench::start(&pool, opts(), |idp| {
        tenant_toml(
            idp,
            "salesforce",
            &all_endpoints(idp, true),
            "default_token_lifetime = \"2h\"",
        )
    })
    .await;

    let tokens = bench.login().await;

    assert!(
        bench
            .requested_scopes()
            .contains(&"refresh_token".to_owned())
    );
    assert!(bench.idp.counters().jwks >= 1, "the ID token was checked");
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert!(grant.has_refresh);
    assert_eq!(grant.extra["instance_url"], bench.idp.instance_url());
    assert_eq!(grant.extra["id"], bench.idp.identity_url());
    for secret in ["access_token", "refresh_token", "id_token", "signature"] {
        assert_eq!(grant.extra.get(secret), None);
    }
    // No `expires_in` came back: the configured two hours apply.
    about_in(grant.access_expires_at, 7200);
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}

#[sqlx::test]
async fn without_a_configured_lifetime_a_salesforce_token_has_no_known_expiry(pool: PgPool) {
    let bench = Bench::start(&pool, opts(), |idp| {
        tenant_toml(idp, "salesforce", &all_endpoints(idp, true), "")
    })
    .await;
    bench.login().await;
    assert_eq!(the_grant(&pool).await.access_expires_at, None);
}

#[sqlx::test]
async fn the_user_is_read_on_the_instance_the_token_response_names(pool: PgPool) {
    // The login host is unreachable; only the token response's `instance_url` leads to the user.
    let bench = Bench::start(&pool, opts(), |idp| {
        let endpoints = format!(
            "issuer = \"http://127.0.0.1:1\"\nauthorization_url = \"{}\"\ntoken_url = \"{}\"",
            idp.authorization_url(),
            idp.token_url()
        );
        tenant_toml(
            idp,
            "salesforce",
            &endpoints,
            "scopes = [\"api\", \"refresh_token\"]",
        )
    })
    .await;

    let tokens = bench.login().await;

    assert_eq!(bench.idp.counters().userinfo, 1);
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, "user-1");
    assert_eq!(
        grant.user["claims"]["organization_id"],
        Value::from("00DTESTORG000001")
    );
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, "user-1");
}
