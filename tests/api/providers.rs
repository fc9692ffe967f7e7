//! Every provider kind through the bridge's real login flow, against the fake IdP in that
//! provider's mode: what went upstream, what the grant stores, what `/userinfo` shows, and
//! upstream revocation.

mod atlassian;
mod github;
mod google;
mod keycloak_oidc;
mod presets;
mod revocation;
mod salesforce;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mcp_auth_bridge::{domain::UpstreamProvider, store::providers, upstream::Upstream};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions, ProviderMode},
};

/// The tenant `acme` whose provider `up` of `kind` has every endpoint pointed at `idp`;
/// `extra` adds provider keys (`scopes`, `default_token_lifetime`, …) or replaces none.
pub fn tenant_toml(idp: &FakeIdp, kind: &str, endpoints: &str, extra: &str) -> String {
    format!(
        r#"
[[tenants]]
slug = "acme"
display_name = "ACME"
scopes = ["mcp", "mcp:tools"]
[[tenants.providers]]
name = "up"
kind = "{kind}"
client_id = "{client_id}"
client_secret = "{client_secret}"
{endpoints}
{extra}
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9/mcp"
scopes = ["mcp", "mcp:tools"]
"#,
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
    )
}

/// Every endpoint overridden to the fake; `issuer` too where the kind has one.
pub fn all_endpoints(idp: &FakeIdp, with_issuer: bool) -> String {
    let issuer = if with_issuer {
        format!("issuer = \"{}\"", idp.issuer())
    } else {
        String::new()
    };
    format!(
        r#"{issuer}
authorization_url = "{}"
token_url = "{}"
userinfo_url = "{}"
jwks_url = "{}"
revocation_url = "{}""#,
        idp.authorization_url(),
        idp.token_url(),
        idp.userinfo_url(),
        idp.jwks_url(),
        idp.revocation_url(),
    )
}

/// A running bridge whose tenant `acme` logs in at a fake IdP, and a registered client.
pub struct Bench {
    pub idp: FakeIdp,
    pub app: TestApp,
    pub client_id: String,
}

impl Bench {
    pub async fn start(
        pool: &PgPool,
        opts: FakeIdpOptions,
        toml: impl Fn(&FakeIdp) -> String,
    ) -> Self {
        let idp = FakeIdp::start(opts).await;
        let app = spawn_app(pool.clone(), test_config(&toml(&idp))).await;
        let client_id = public_client(pool, "acme", REDIRECT_URI).await;
        Bench {
            idp,
            app,
            client_id,
        }
    }

    pub fn flow(&self) -> Flow<'_> {
        Flow::new(&self.app, "acme", &self.client_id)
    }

    /// The whole flow to the MCP token response.
    pub async fn login(&self) -> Value {
        self.flow().tokens().await
    }

    /// `/t/acme/userinfo` with an MCP access token.
    pub async fn userinfo(&self, tokens: &Value) -> Value {
        let response = self
            .app
            .http
            .get(self.app.url("/t/acme/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The upstream authorize parameters the fake received.
    pub fn authorize_param(&self, name: &str) -> Option<String> {
        self.idp.last_authorize_params().unwrap().get(name).cloned()
    }

    pub fn requested_scopes(&self) -> Vec<String> {
        self.authorize_param("scope")
            .unwrap_or_default()
            .split(' ')
            .map(str::to_owned)
            .collect()
    }
}

/// The one grant row, as the tests look at it.
#[derive(sqlx::FromRow)]
pub struct StoredGrant {
    pub subject: String,
    pub user: Value,
    pub extra: Value,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub has_refresh: bool,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

pub async fn the_grant(pool: &PgPool) -> StoredGrant {
    sqlx::query_as(
        "SELECT subject, user_context AS \"user\", upstream_extra AS extra,
                upstream_access_expires_at AS access_expires_at,
                upstream_refresh_token IS NOT NULL AS has_refresh,
                upstream_refresh_expires_at AS refresh_expires_at
         FROM grants",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Asserts `at` is `secs` from now, give or take a minute.
pub fn about_in(at: Option<DateTime<Utc>>, secs: i64) {
    let at = at.expect("an expiry is stored");
    let delta = (at - Utc::now()).num_seconds() - secs;
    assert!(delta.abs() < 60, "expiry off by {delta} s");
}

/// The user context is the fake user's (Google has no username: `username` is then absent).
pub fn assert_user(grant: &StoredGrant, idp: &FakeIdp, subject: &str) {
    let u = idp.user();
    assert_eq!(grant.subject, subject);
    assert_eq!(grant.user["subject"], subject);
    assert_eq!(grant.user["email"], u.email);
    assert_eq!(grant.user["name"], u.name);
    assert_eq!(grant.user["provider"], "up");
    if idp.mode() != ProviderMode::Google {
        assert_eq!(grant.user["username"], u.username);
    } else {
        assert_eq!(grant.user.get("username"), None);
    }
}

/// `/userinfo` shows the same user.
pub fn assert_userinfo(me: &Value, idp: &FakeIdp, subject: &str) {
    let u = idp.user();
    assert_eq!(me["sub"], subject);
    assert_eq!(me["email"], u.email);
    assert_eq!(me["name"], u.name);
    assert_eq!(me["provider"], "up");
    if idp.mode() != ProviderMode::Google {
        assert_eq!(me["preferred_username"], u.username);
    }
}

/// An `Upstream` over the same database and sealing key as the app, and the tenant's provider.
pub async fn upstream_for(app: &TestApp) -> (Upstream, UpstreamProvider) {
    let config = test_config("");
    let sealer = config.crypto.sealer(false).unwrap().0;
    let upstream = Upstream::new(
        app.pool.clone(),
        Arc::new(sealer),
        mcp_auth_bridge::urls::BridgeUrls::new(app.address.parse().unwrap()),
        60,
    );
    let tenant_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let provider = providers::list(&app.pool, tenant_id)
        .await
        .unwrap()
        .remove(0);
    (upstream, provider)
}
