//! A tenant `acme` whose users log in at the fake IdP, with one remote-OAuth MCP server `wiki`
//! (the fake remote MCP server + authorization server), and the steps the tests repeat: an MCP
//! token through the real login flow, MCP requests through the gateway, connecting in a browser.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, location, public_client, query_param},
    support::{
        fake_idp::{FakeIdp, FakeIdpOptions},
        fake_remote_mcp::FakeRemote,
    },
};

pub struct Setup {
    pub idp: FakeIdp,
    pub remote: FakeRemote,
    pub app: TestApp,
    pub client_id: String,
}

/// The configuration's tenant with `wiki` as a remote-OAuth server.
pub fn config_toml(idp: &FakeIdp, remote: &FakeRemote) -> String {
    config_toml_with(idp, remote, "")
}

/// The same, with `wiki_extra` (its `policy` tables, say) in `wiki`'s server table.
pub fn config_toml_with(idp: &FakeIdp, remote: &FakeRemote, wiki_extra: &str) -> String {
    let servers = format!(
        r#"
[[tenants.mcp_servers]]
name = "wiki"
url = "{}"
[tenants.mcp_servers.remote_oauth]
scopes = ["wiki.read"]
{wiki_extra}
"#,
        remote.mcp_url()
    );
    keycloak_tenant(idp, &servers)
}

pub async fn setup(pool: &PgPool) -> Setup {
    setup_with(pool, "").await
}

/// [`setup`] with `wiki_extra` in `wiki`'s server table (see [`config_toml_with`]).
pub async fn setup_with(pool: &PgPool, wiki_extra: &str) -> Setup {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let remote = FakeRemote::start().await;
    let config = config_toml_with(&idp, &remote, wiki_extra);
    let app = spawn_app(pool.clone(), test_config(&config)).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    Setup {
        idp,
        remote,
        app,
        client_id,
    }
}

/// A user signed in to the bridge: their MCP token and the browser they logged in with
/// (which the bridge remembers as them).
pub struct User<'a> {
    pub token: String,
    pub flow: Flow<'a>,
}

impl Setup {
    /// Logs the fake IdP's user in through the real flow and returns their MCP token for `wiki`.
    pub async fn user(&self) -> User<'_> {
        let flow = Flow::new(&self.app, "acme", &self.client_id);
        let resource = self.app.url("/t/acme/mcp/wiki");
        let redirect = flow
            .run_to_client(&[("resource", &resource), ("scope", "mcp")])
            .await;
        let code = query_param(&redirect, "code").unwrap();
        let tokens: Value = flow.redeem(&code).await.json().await.unwrap();
        User {
            token: tokens["access_token"].as_str().unwrap().to_owned(),
            flow,
        }
    }

    /// A JSON-RPC message to `wiki` through the gateway, from `app` (a replica, say).
    pub async fn post_to(&self, app: &TestApp, token: &str, body: Value) -> reqwest::Response {
        app.http
            .post(app.url("/t/acme/mcp/wiki"))
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, token: &str, body: Value) -> reqwest::Response {
        self.post_to(&self.app, token, body).await
    }

    /// `initialize`, declaring URL elicitation or not; the JSON-RPC answer.
    pub async fn initialize(&self, token: &str, url_elicitation: bool) -> Value {
        let capabilities = if url_elicitation {
            json!({"elicitation": {"form": {}, "url": {}}})
        } else {
            json!({})
        };
        let r = self
            .post(
                token,
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": capabilities,
                "clientInfo": {"name": "test", "version": "1"}}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// `tools/call whoami` with JSON-RPC id `id`; the JSON-RPC answer.
    pub async fn whoami_on(&self, app: &TestApp, token: &str, id: u64) -> Value {
        let r = self
            .post_to(
                app,
                token,
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "whoami");
        r.json().await.unwrap()
    }

    pub async fn whoami(&self, token: &str, id: u64) -> Value {
        self.whoami_on(&self.app, token, id).await
    }
}

/// The connect URL of a `-32042` URL elicitation.
pub fn elicited_url(answer: &Value) -> String {
    assert_eq!(answer["error"]["code"], -32042, "{answer}");
    let e = &answer["error"]["data"]["elicitations"][0];
    assert_eq!(e["mode"], "url");
    assert!(e["elicitationId"].is_string());
    e["url"].as_str().unwrap().to_owned()
}

/// Opens the connect link in `browser`: the bridge's redirect to the remote authorization
/// server, the remote's redirect back, and the bridge's callback. Returns the callback's answer.
pub async fn connect_in(browser: &reqwest::Client, connect_url: &str) -> reqwest::Response {
    let start = browser.get(connect_url).send().await.unwrap();
    assert_eq!(
        start.status(),
        StatusCode::FOUND,
        "connect: {}",
        start.text().await.unwrap_or_default()
    );
    let remote = browser.get(location(&start)).send().await.unwrap();
    assert!(
        remote.status().is_redirection(),
        "remote authorize: {}",
        remote.status()
    );
    browser.get(location(&remote)).send().await.unwrap()
}

/// Signs in, elicits and connects: the user's MCP token, ready for calls to `wiki`.
pub async fn connected_user(s: &Setup) -> User<'_> {
    let user = s.user().await;
    s.initialize(&user.token, true).await;
    let url = elicited_url(&s.whoami(&user.token, 2).await);
    let done = connect_in(&user.flow.browser, &url).await;
    assert_eq!(
        done.status(),
        StatusCode::OK,
        "{}",
        done.text().await.unwrap_or_default()
    );
    user
}
