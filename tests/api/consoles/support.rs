//! What the console tests share: signing in to the account page and to the admin console,
//! reading a form's CSRF token, and a grant inserted straight into the store.

use mcp_auth_bridge::{
    crypto::Sealer,
    domain::UpstreamTokens,
    store::grants::{self, NewGrant},
};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    app_support::{TEST_SEALING_KEY, TestApp},
    oauth_support::{browser, hidden_field, location},
};

/// Signs `browser` in to `/t/{tenant}/account` through the tenant's upstream IdP (the fake
/// IdP logs in `user-1` without asking) and returns the account page's HTML.
pub async fn account_sign_in(app: &TestApp, browser: &reqwest::Client, tenant: &str) -> String {
    let start = browser
        .get(app.url(&format!("/t/{tenant}/account/login")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let idp = browser.get(location(&start)).send().await.unwrap();
    assert!(
        idp.status().is_redirection(),
        "IdP answered {}",
        idp.status()
    );
    let back = browser.get(location(&idp)).send().await.unwrap();
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "callback: {}",
        back.text().await.unwrap_or_default()
    );
    assert!(location(&back).ends_with(&format!("/t/{tenant}/account")));
    let page = browser
        .get(app.url(&format!("/t/{tenant}/account")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

/// A browser signed in to the admin console with `token`.
pub async fn console_sign_in(app: &TestApp, token: &str) -> reqwest::Client {
    let b = browser();
    let form = b.get(app.url("/admin/console")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let csrf = hidden_field(&form.text().await.unwrap(), "csrf");
    let signed_in = b
        .post(app.url("/admin/console/login"))
        .form(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    b
}

/// `GET path` in `browser`: the status and the HTML.
pub async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let r = browser.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The CSRF token of the first form on the page at `path`.
pub async fn csrf_of(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let (status, html) = page(app, browser, path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    hidden_field(&html, "csrf")
}

/// Inserts a live grant for `subject` in tenant `tenant` (first provider, first client).
pub async fn insert_grant(pool: &PgPool, tenant: &str, subject: &str) -> Uuid {
    let (tenant_id, provider_id): (Uuid, Uuid) = sqlx::query_as(
        "SELECT t.id, p.id FROM tenants t JOIN upstream_providers p ON p.tenant_id = t.id WHERE t.slug = $1 LIMIT 1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap();
    let client_pk: Uuid =
        sqlx::query_scalar("SELECT id FROM oauth_clients WHERE tenant_id = $1 LIMIT 1")
            .bind(tenant_id)
            .fetch_one(pool)
            .await
            .unwrap();
    let key = mcp_auth_bridge::crypto::seal::decode_key(TEST_SEALING_KEY).unwrap();
    let sealer = Sealer::single("test", key);
    let tokens = UpstreamTokens {
        access_token: "upstream-access-test".into(),
        access_expires_at: None,
        refresh_token: None,
        refresh_expires_at: None,
        scopes: vec![],
        extra: json!({}),
    };
    let id = Uuid::new_v4();
    let mut conn = pool.acquire().await.unwrap();
    grants::insert(
        &mut conn,
        &sealer,
        &NewGrant {
            id,
            tenant_id,
            provider_id,
            client_pk,
            subject,
            user_context: &json!({}),
            tokens: &tokens,
        },
    )
    .await
    .unwrap();
    id
}

pub async fn grant_status(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM grants WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}
