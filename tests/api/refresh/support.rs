//! Getting a grant (through the real login flow, or minted for providers whose login the fake
//! cannot complete against the bridge) and reading back what the store holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mcp_auth_bridge::{
    crypto::Sealed,
    domain::UpstreamTokens,
    store::grants::{self, NewGrant},
    upstream::refresh::{RefreshCoordinator, RefreshPolicy},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

/// A tenant `slug` whose users log in at `idp` (Keycloak mode).
pub fn keycloak_tenant(slug: &str, idp: &FakeIdp) -> String {
    format!(
        r#"
[[tenants]]
slug = "{slug}"
display_name = "{slug}"
scopes = ["mcp"]
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9/mcp"
"#,
        issuer = idp.issuer(),
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
    )
}

/// A tenant whose provider is of kind `google`, its token endpoint pointed at `idp`.
pub fn google_tenant(slug: &str, idp: &FakeIdp) -> String {
    format!(
        r#"
[[tenants]]
slug = "{slug}"
display_name = "{slug}"
scopes = ["mcp"]
[[tenants.providers]]
name = "google"
kind = "google"
client_id = "{client_id}"
client_secret = "{client_secret}"
authorization_url = "{authorization}"
token_url = "{token}"
userinfo_url = "{userinfo}"
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9/mcp"
"#,
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
        authorization = idp.authorization_url(),
        token = idp.token_url(),
        userinfo = idp.userinfo_url(),
    )
}

/// An application, its IdP and one grant obtained through the whole login flow.
pub struct LoggedIn {
    pub app: TestApp,
    pub idp: FakeIdp,
    pub grant_id: Uuid,
}

/// Starts a Keycloak-mode IdP and the bridge over `pool`, logs one user in.
pub async fn logged_in(pool: PgPool, opts: FakeIdpOptions) -> LoggedIn {
    let idp = FakeIdp::start(opts).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant("acme", &idp))).await;
    let grant_id = log_in(&app, "acme").await;
    LoggedIn { app, idp, grant_id }
}

/// Runs the login flow for a new client of `tenant`; returns the new grant.
pub async fn log_in(app: &TestApp, tenant: &str) -> Uuid {
    let client_id = public_client(&app.pool, tenant, REDIRECT_URI).await;
    Flow::new(app, tenant, &client_id).tokens().await;
    sqlx::query_scalar(
        "SELECT g.id FROM grants g JOIN oauth_clients c ON c.id = g.client_pk
         WHERE c.client_id = $1",
    )
    .bind(&client_id)
    .fetch_one(&app.pool)
    .await
    .expect("the login stored a grant")
}

/// Inserts a grant holding tokens the IdP minted directly (no login).
pub async fn minted_grant(app: &TestApp, tenant: &str, idp: &FakeIdp) -> Uuid {
    let minted = idp.mint_tokens("openid email", true);
    let client_id = public_client(&app.pool, tenant, REDIRECT_URI).await;
    let (tenant_id, provider_id, client_pk): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "SELECT t.id, p.id, c.id FROM tenants t
         JOIN upstream_providers p ON p.tenant_id = t.id
         JOIN oauth_clients c ON c.tenant_id = t.id
         WHERE t.slug = $1 AND c.client_id = $2",
    )
    .bind(tenant)
    .bind(&client_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let id = Uuid::new_v4();
    let tokens = UpstreamTokens {
        access_token: minted.access_token,
        access_expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
        refresh_token: minted.refresh_token,
        refresh_expires_at: None,
        scopes: vec!["openid".into(), "email".into()],
        extra: serde_json::json!({}),
    };
    let grant = NewGrant {
        id,
        tenant_id,
        provider_id,
        client_pk,
        subject: "user-1",
        user_context: &serde_json::json!({}),
        tokens: &tokens,
    };
    let mut conn = app.pool.acquire().await.unwrap();
    grants::insert(&mut conn, &app.state.sealer, &grant)
        .await
        .unwrap();
    id
}

/// Two hours from now: every token the fake issued with its default lifetime (1 h) has expired.
pub fn later() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(2)
}

/// The refresh token the store holds for the grant, opened.
pub async fn stored_refresh_token(app: &TestApp, grant_id: Uuid) -> Option<String> {
    let (blob, key_id): (Option<Vec<u8>>, Option<String>) = sqlx::query_as(
        "SELECT upstream_refresh_token, upstream_refresh_key_id FROM grants WHERE id = $1",
    )
    .bind(grant_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let sealed = Sealed {
        key_id: key_id?,
        blob: blob?,
    };
    let aad = grants::aad(grant_id, "refresh");
    Some(app.state.sealer.open_string(&sealed, &aad).unwrap())
}

/// `(status, version)` of the grant.
pub async fn status_and_version(pool: &PgPool, grant_id: Uuid) -> (String, i64) {
    sqlx::query_as("SELECT status, version FROM grants WHERE id = $1")
        .bind(grant_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Short timeouts and pauses, so fault tests take a second rather than ten; no per-grant
/// back-off, so a test may call again at once (the back-off has tests of its own).
pub fn quick_policy() -> RefreshPolicy {
    RefreshPolicy {
        call_timeout: Duration::from_millis(500),
        budget: Duration::from_secs(3),
        backoff: Duration::from_millis(20),
        failure_backoff: Duration::ZERO,
        max_failure_backoff: Duration::ZERO,
        after_ambiguous: Duration::ZERO,
        ..RefreshPolicy::default()
    }
}

/// The application's coordinator with [`quick_policy`].
pub fn quick_refresher(app: &TestApp) -> RefreshCoordinator {
    app.state.refresher.clone().with_policy(quick_policy())
}
