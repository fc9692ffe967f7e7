//! The gateway end to end: a real MCP server (the demo server) behind `/t/{t}/mcp/{server}`,
//! real tokens from the real login flow, the fake IdP answering userinfo.

mod auth_failures;
mod cors;
mod end_to_end;
mod refresh_on_401;
mod user_cache;

use std::time::Duration;

use demo_mcp_server::{self, DemoMcpHandle, DemoMcpOptions};
use reqwest::header;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

pub struct Setup {
    pub idp: FakeIdp,
    pub app: TestApp,
    pub mcp: DemoMcpHandle,
    pub client_id: String,
}

/// A tenant `acme` with MCP servers `demo` (the demo server), `down` (nothing listens) and
/// `admin` (needs scope `mcp:admin`), all behind the gateway.
pub async fn setup(pool: &PgPool, auth_extra: &str) -> Setup {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let (addr, mcp) = demo_mcp_server::spawn(DemoMcpOptions {
        tick: Duration::from_millis(20),
        ..DemoMcpOptions::default()
    })
    .await
    .unwrap();
    let servers = format!(
        r#"
[[tenants.mcp_servers]]
name = "demo"
url = "http://{addr}/mcp"
[[tenants.mcp_servers]]
name = "down"
url = "http://127.0.0.1:9/mcp"
[[tenants.mcp_servers]]
name = "admin"
url = "http://{addr}/mcp"
required_scopes = ["mcp:admin"]
"#
    );
    let app = spawn_app(
        pool.clone(),
        test_config(&format!("{}{auth_extra}", keycloak_tenant(&idp, &servers))),
    )
    .await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    Setup {
        idp,
        app,
        mcp,
        client_id,
    }
}

impl Setup {
    /// An access token for `server` with `scope`, through the real flow.
    pub async fn token(&self, server: &str, scope: &str) -> String {
        let flow = Flow::new(&self.app, "acme", &self.client_id);
        let resource = self.app.url(&format!("/t/acme/mcp/{server}"));
        let redirect = flow
            .run_to_client(&[("resource", &resource), ("scope", scope)])
            .await;
        let code = crate::oauth_support::query_param(&redirect, "code").unwrap();
        let tokens: Value = flow.redeem(&code).await.json().await.unwrap();
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    pub fn mcp_url(&self, server: &str) -> String {
        self.app.url(&format!("/t/acme/mcp/{server}"))
    }

    pub fn post(
        &self,
        server: &str,
        token: &str,
        session: Option<&str>,
        body: Value,
    ) -> reqwest::RequestBuilder {
        let mut r = self
            .app
            .http
            .post(self.mcp_url(server))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        if let Some(s) = session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        r.json(&body)
    }

    /// `initialize` through the gateway; returns the session id.
    pub async fn initialize(&self, server: &str, token: &str) -> String {
        let r = self
            .post(server, token, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        r.headers()["mcp-session-id"].to_str().unwrap().to_owned()
    }
}
