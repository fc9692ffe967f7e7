//! GitHub: OAuth apps (tokens without expiry or refresh) and GitHub Apps (8 h access, 6-month
//! rotating refresh); `/user` with `/user/emails` for private emails; errors with status 200.

use reqwest::StatusCode;
use sqlx::PgPool;

use super::{Bench, about_in, all_endpoints, assert_user, assert_userinfo, tenant_toml, the_grant};
use crate::{
    oauth_support::{REDIRECT_URI, location, query_param},
    support::fake_idp::{FakeIdpOptions, ProviderMode},
};

async fn github(pool: &PgPool, app: bool) -> Bench {
    Bench::start(
        pool,
        FakeIdpOptions::for_mode(ProviderMode::Github { app }),
        |idp| tenant_toml(idp, "github", &all_endpoints(idp, false), ""),
    )
    .await
}

#[sqlx::test]
async fn a_github_oauth_app_login_stores_a_token_without_expiry_or_refresh(pool: PgPool) {
    let bench = github(&pool, false).await;

    let tokens = bench.login().await;

    assert_eq!(
        bench.authorize_param("scope").as_deref(),
        Some("read:user user:email")
    );
    assert_eq!(bench.authorize_param("nonce"), None);
    let subject = bench.idp.github_user_id().to_string();
    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, &subject);
    assert_eq!(grant.access_expires_at, None);
    assert!(!grant.has_refresh);
    assert_eq!(grant.refresh_expires_at, None);
    assert_eq!(
        bench.idp.counters().emails,
        0,
        "the public email was enough"
    );
    assert_userinfo(&bench.userinfo(&tokens).await, &bench.idp, &subject);
}

#[sqlx::test]
async fn a_private_github_email_comes_from_the_primary_verified_address(pool: PgPool) {
    let bench = github(&pool, false).await;
    bench.idp.set_github_public_email(false);

    bench.login().await;

    assert_eq!(bench.idp.counters().emails, 1);
    let grant = the_grant(&pool).await;
    assert_eq!(grant.user["email"], bench.idp.user().email);
    assert_eq!(grant.user["claims"]["email"], serde_json::Value::Null);
}

#[sqlx::test]
async fn a_github_app_login_stores_eight_hour_access_and_a_six_month_refresh_token(pool: PgPool) {
    let bench = github(&pool, true).await;

    bench.login().await;

    let grant = the_grant(&pool).await;
    assert_user(&grant, &bench.idp, &bench.idp.github_user_id().to_string());
    about_in(grant.access_expires_at, 8 * 3600);
    assert!(grant.has_refresh);
    about_in(grant.refresh_expires_at, 15_897_600);
}

#[sqlx::test]
async fn a_github_error_answered_with_status_200_sends_the_client_access_denied(pool: PgPool) {
    let bench = github(&pool, false).await;
    let flow = bench.flow();
    let consent = flow.get_authorize(&[]).await;
    let upstream = flow.approve(&consent.text().await.unwrap()).await;
    let idp = flow.visit(&upstream).await;
    let mut callback = url::Url::parse(&location(&idp)).unwrap();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);

    let back = flow.visit(callback.as_str()).await;

    assert_eq!(back.status(), StatusCode::FOUND);
    let redirect = location(&back);
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("client-state-1")
    );
    assert_eq!(query_param(&redirect, "code"), None);
    let c = bench.idp.counters();
    assert_eq!((c.token_authorization_code, c.token_errors), (1, 1));
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM grants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(grants, 0);
}
