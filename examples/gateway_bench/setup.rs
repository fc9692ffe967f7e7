//! The world the benchmark runs in: a scratch database, the fake IdP, the demo MCP server and
//! the bridge on loopback, and a real access token from the real login flow.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use demo_mcp_server::{self, DemoMcpOptions};
use mcp_auth_bridge::{
    config::{Config, HumanDuration},
    state::AppState,
    store,
};
use reqwest::{StatusCode, header::LOCATION};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{ConnectOptions, Connection, PgPool, postgres::PgConnectOptions};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::support::fake_idp::{FakeIdp, FakeIdpOptions};

/// A fixed, obviously-a-benchmark sealing key: base64 of `BENCH-ONLY key mcp-auth-bridge 1`.
const SEALING_KEY: &str = "QkVOQ0gtT05MWSBrZXkgbWNwLWF1dGgtYnJpZGdlIDE=";
const REDIRECT_URI: &str = "http://127.0.0.1:7777/callback";
pub const TENANT: &str = "acme";
pub const SERVER: &str = "demo";
/// The streaming backend's name in the bridge's configuration.
pub const SSE_SERVER: &str = "sse";
/// The Python MCP server's name in the bridge's configuration.
pub const PYTHON_SERVER: &str = "python";

/// The scratch database: created on the loopback Postgres, dropped by [`Scratch::drop_now`].
pub struct Scratch {
    admin: PgConnectOptions,
    pub name: String,
    pub url: String,
}

impl Scratch {
    pub async fn create() -> anyhow::Result<Self> {
        let url = std::env::var("GATEWAY_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin: PgConnectOptions = url.parse()?;
        if !matches!(admin.get_host(), "127.0.0.1" | "localhost" | "::1") {
            bail!("the benchmark only talks to a loopback Postgres");
        }
        let name = format!("gateway_bench_{}", std::process::id());
        let mut conn = admin.connect().await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let mut db_url = url::Url::parse(&url)?;
        db_url.set_path(&format!("/{name}"));
        Ok(Self {
            admin,
            name,
            url: db_url.to_string(),
        })
    }

    pub async fn drop_now(&self) -> anyhow::Result<()> {
        let mut conn = self.admin.connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

pub struct World {
    pub idp: FakeIdp,
    pub state: AppState,
    pub pool: PgPool,
    pub public_url: String,
    pub demo_url: String,
    /// The streaming backend ([`crate::sse_backend`]).
    pub sse_url: String,
    pub tenant_id: Uuid,
    pub client_id: String,
}

impl World {
    /// The gateway's URL for the MCP server `server` (`SERVER` or `SSE_SERVER`).
    pub fn gateway_url(&self, server: &str) -> String {
        format!("{}/t/{TENANT}/mcp/{server}", self.public_url)
    }
}

/// Starts the fake IdP, the demo MCP server, the streaming backend and the bridge (in this
/// process, on loopback; the bridge on the `bridge` runtime, with its own pool). `python`: the
/// Python MCP server's URL when it runs, configured as [`PYTHON_SERVER`].
pub async fn start(
    scratch: &Scratch,
    cache_capacity: u64,
    bridge: &tokio::runtime::Handle,
    python: Option<&str>,
) -> anyhow::Result<World> {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let (mcp, _handle) = demo_mcp_server::spawn(DemoMcpOptions::default()).await?;
    let sse_url = crate::sse_backend::spawn().await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let public_url = format!("http://127.0.0.1:{port}");
    let python_entry = python.map_or_else(String::new, |url| {
        format!("[[tenants.mcp_servers]]\nname = \"{PYTHON_SERVER}\"\nurl = \"{url}\"\n")
    });
    let toml = format!(
        r#"
public_url = "{public_url}"
[server]
bind = "127.0.0.1:0"
shutdown_grace = "2s"
[database]
url = "{db}"
[crypto]
active_key = "bench"
[crypto.keys]
bench = "{SEALING_KEY}"
[auth]
cache_capacity = {cache_capacity}
[[tenants]]
slug = "{TENANT}"
display_name = "ACME"
scopes = ["mcp"]
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
[[tenants.mcp_servers]]
name = "{SERVER}"
url = "http://{mcp}/mcp"
[[tenants.mcp_servers]]
name = "{SSE_SERVER}"
url = "{sse_url}"
{python_entry}"#,
        db = scratch.url,
        issuer = idp.issuer(),
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
    );
    let mut config = Config::load_str(&toml, &[])?;
    // No background sweeper during the measurements.
    config.auth.cleanup_interval = HumanDuration::secs(0);
    // The benchmark's own queries go through a pool of its own, on its own runtime.
    let pool = store::connect(&config.database).await?;
    let state = crate::common::serve(config, listener, bridge).await?;
    let (tenant_id, client_id) =
        crate::common::register_public_client(&pool, TENANT, REDIRECT_URI, "Gateway benchmark")
            .await?;
    Ok(World {
        idp,
        state,
        pool,
        public_url,
        demo_url: format!("http://{mcp}/mcp"),
        sse_url,
        tenant_id,
        client_id,
    })
}

fn location(r: &reqwest::Response) -> anyhow::Result<String> {
    Ok(r.headers()
        .get(LOCATION)
        .with_context(|| format!("no Location on {}", r.status()))?
        .to_str()?
        .to_owned())
}

fn hidden_field(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .with_context(|| format!("no field {name} on the consent page"))?
        + marker.len();
    Ok(html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The whole login as a browser and an MCP client do it: `/authorize` (PKCE S256, `resource`),
/// consent form, the fake IdP, the callback, `/token`. Returns the access token, whose audience
/// is the gateway's URL for `server`.
pub async fn login(world: &World, server: &str) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let verifier = mcp_auth_bridge::crypto::random::token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let base = &world.public_url;
    let mut authorize = url::Url::parse(&format!("{base}/t/{TENANT}/authorize"))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &world.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", "bench")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &world.gateway_url(server))
        .append_pair("scope", "mcp");
    let consent = browser.get(authorize).send().await?;
    ensure!(
        consent.status() == StatusCode::OK,
        "authorize answered {}",
        consent.status()
    );
    let html = consent.text().await?;
    let form = [
        ("pending", hidden_field(&html, "pending")?),
        ("csrf", hidden_field(&html, "csrf")?),
        ("decision", "approve".into()),
    ];
    let approved = browser
        .post(format!("{base}/t/{TENANT}/consent"))
        .form(&form)
        .send()
        .await?;
    ensure!(
        approved.status() == StatusCode::SEE_OTHER,
        "consent answered {}",
        approved.status()
    );
    let at_idp = browser.get(location(&approved)?).send().await?;
    ensure!(
        at_idp.status().is_redirection(),
        "IdP answered {}",
        at_idp.status()
    );
    let back = browser.get(location(&at_idp)?).send().await?;
    ensure!(
        back.status() == StatusCode::FOUND,
        "callback answered {}",
        back.status()
    );
    let redirect = url::Url::parse(&location(&back)?)?;
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the redirect to the client")?;
    let tokens: Value = browser
        .post(format!("{base}/t/{TENANT}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &world.client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(tokens["access_token"]
        .as_str()
        .context("no access_token in the token response")?
        .to_owned())
}

/// `initialize` at `url` (directly or through the gateway with `token`), then the
/// `notifications/initialized` a client sends next (the Python SDK's sessions expect it); the
/// session id.
pub async fn initialize(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<String> {
    let post = |body: &'static str, session: Option<&str>| {
        let mut r = client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(s) = session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let response = post(INITIALIZE, None).send().await?;
    ensure!(
        response.status() == 200,
        "initialize answered {}",
        response.status()
    );
    let session = response
        .headers()
        .get("mcp-session-id")
        .context("no mcp-session-id")?
        .to_str()?
        .to_owned();
    // The whole answer (JSON, or an SSE stream that ends after the result), so the connection
    // goes back to the pool.
    response.bytes().await?;
    let initialized = post(INITIALIZED, Some(&session)).send().await?;
    ensure!(
        initialized.status().is_success(),
        "notifications/initialized answered {}",
        initialized.status()
    );
    initialized.bytes().await?;
    Ok(session)
}

/// The protocol revision the benchmark speaks (the `mcp-protocol-version` header).
pub const PROTOCOL_VERSION: &str = "2025-11-25";
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"gateway-bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
