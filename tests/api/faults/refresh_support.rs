//! What the refresh fault tests share: a tenant whose MCP server receives the user's upstream
//! token (so every gateway request needs a current one), users logged in through the real flow,
//! and a way to make their upstream tokens due for a refresh without waiting an hour.

use std::time::Duration;

use demo_mcp_server::{self, DemoMcpOptions};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client, query_param},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

/// Lifetime of the upstream tokens issued at login: due for a refresh after half of it.
pub const SHORT_TTL: Duration = Duration::from_secs(2);

pub struct Forwarding {
    pub idp: FakeIdp,
    pub app: TestApp,
    /// The tenant's configuration (`[[tenants]]` …), for other replicas.
    pub tenant_toml: String,
}

/// The fake IdP (upstream tokens living [`SHORT_TTL`]), an MCP server checking the forwarded
/// upstream token against the IdP's API, and the bridge with `auth` lines added to its config.
pub async fn forwarding(pool: &PgPool, auth: &str) -> Forwarding {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    idp.set_access_token_ttl(Some(SHORT_TTL));
    let check = idp.api_url().parse().expect("api url");
    let (addr, _mcp) = demo_mcp_server::spawn(DemoMcpOptions {
        upstream_check_url: Some(check),
        tick: Duration::from_millis(50),
        ..DemoMcpOptions::default()
    })
    .await
    .expect("demo MCP server");
    let servers = format!(
        "[[tenants.mcp_servers]]\nname = \"api\"\nurl = \"http://{addr}/mcp\"\nforward_upstream_token = true\n"
    );
    let tenant_toml = keycloak_tenant(&idp, &servers);
    let config = test_config(&format!("[auth]\n{auth}\n{tenant_toml}"));
    let app = spawn_app(pool.clone(), config).await;
    Forwarding {
        idp,
        app,
        tenant_toml,
    }
}

impl Forwarding {
    /// Logs a new user-agent in (its own client, its own grant); returns its MCP access token
    /// and the grant.
    pub async fn log_in(&self) -> (String, Uuid) {
        let client_id = public_client(&self.app.pool, "acme", REDIRECT_URI).await;
        let flow = Flow::new(&self.app, "acme", &client_id);
        let resource = self.app.url("/t/acme/mcp/api");
        let redirect = flow
            .run_to_client(&[("resource", &resource), ("scope", "mcp")])
            .await;
        let code = query_param(&redirect, "code").expect("code");
        let tokens: serde_json::Value = flow.redeem(&code).await.json().await.expect("json");
        let grant = sqlx::query_scalar(
            "SELECT g.id FROM grants g JOIN oauth_clients c ON c.id = g.client_pk
             WHERE c.client_id = $1",
        )
        .bind(&client_id)
        .fetch_one(&self.app.pool)
        .await
        .expect("grant");
        let token = tokens["access_token"].as_str().expect("token").to_owned();
        (token, grant)
    }

    /// Waits until tokens issued at login are due for a refresh; tokens issued from now on
    /// live the IdP's default hour.
    pub async fn make_due(&self) {
        self.idp.set_access_token_ttl(None);
        tokio::time::sleep(SHORT_TTL / 2 + Duration::from_millis(200)).await;
    }
}

/// An MCP `initialize` through the gateway at `base` (one replica or another).
pub fn call(base: &str, token: &str, id: u32) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{base}/t/acme/mcp/api"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .timeout(Duration::from_secs(35))
        .json(
            &json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
}

/// `(status, version)` of the grant.
pub async fn grant_state(pool: &PgPool, grant: Uuid) -> (String, i64) {
    sqlx::query_as("SELECT status, version FROM grants WHERE id = $1")
        .bind(grant)
        .fetch_one(pool)
        .await
        .expect("grant")
}

/// Polls (bounded by `within`) until the grant's version passes `version`.
pub async fn wait_for_version(pool: &PgPool, grant: Uuid, version: i64, within: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if grant_state(pool, grant).await.1 > version {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
