//! `TestApp`: the real application on a random loopback port, over a fresh database.

use mcp_auth_bridge::{
    config::Config,
    startup::{Application, DatabaseSetup},
    state::AppState,
};
use reqwest::Response;
use serde::Serialize;
use sqlx::PgPool;

/// The tests' 32-byte sealing key, obviously a test value: base64 of
/// `TEST-ONLY key mcp-auth-bridge 01` (varied enough for production mode's entropy check, and
/// public, since it is in this file).
pub const TEST_SEALING_KEY: &str = "VEVTVC1PTkxZIGtleSBtY3AtYXV0aC1icmlkZ2UgMDE=";

/// The smallest valid configuration for tests; `extra` is appended TOML (tenants, overrides).
pub fn test_config(extra: &str) -> Config {
    let toml = format!(
        r#"
public_url = "http://127.0.0.1:1"
[server]
bind = "127.0.0.1:0"
shutdown_grace = "2s"
[database]
url = "postgres://unused@127.0.0.1:1/unused"
[crypto]
active_key = "test"
[crypto.keys]
test = "{TEST_SEALING_KEY}"
{extra}
"#
    );
    Config::load_str(&toml, &[]).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

// Not every test binary module reads every field.
#[allow(dead_code)]
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub pool: PgPool,
    pub http: reqwest::Client,
    /// The running application's state (its refresh coordinator, caches, pool).
    pub state: AppState,
}

/// Requests the tests make again and again, named for the endpoint they call (zero2prod style),
/// so a test reads as what it does. Each sends once and panics only when nothing answers: the
/// status is the test's to assert. Anything unusual (other headers, client authentication)
/// builds on [`TestApp::http`] directly.
impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `GET {path}` without credentials.
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET sent")
    }

    /// `GET /t/{tenant}/userinfo` with `access_token` as the bearer token.
    pub async fn get_userinfo(&self, tenant: &str, access_token: &str) -> Response {
        self.http
            .get(self.url(&format!("/t/{tenant}/userinfo")))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("userinfo request sent")
    }

    /// `POST /t/{tenant}/token` with `form` as the form body (a public client's request).
    pub async fn post_token<F: Serialize + ?Sized>(&self, tenant: &str, form: &F) -> Response {
        self.http
            .post(self.url(&format!("/t/{tenant}/token")))
            .form(form)
            .send()
            .await
            .expect("token request sent")
    }

    /// `POST /t/{tenant}/revoke` (RFC 7009) with `form` as the form body (a public client's
    /// request).
    pub async fn post_revoke<F: Serialize + ?Sized>(&self, tenant: &str, form: &F) -> Response {
        self.http
            .post(self.url(&format!("/t/{tenant}/revoke")))
            .form(form)
            .send()
            .await
            .expect("revocation request sent")
    }

    /// `POST /t/{tenant}/register` (RFC 7591) with `metadata` as the JSON body.
    pub async fn post_register<M: Serialize + ?Sized>(
        &self,
        tenant: &str,
        metadata: &M,
    ) -> Response {
        self.http
            .post(self.url(&format!("/t/{tenant}/register")))
            .json(metadata)
            .send()
            .await
            .expect("registration request sent")
    }
}

/// Builds the application over `pool` (migrating it and applying the configured tenants) and
/// serves it in the background until the test ends.
pub async fn spawn_app(pool: PgPool, config: Config) -> TestApp {
    spawn_app_with(pool, config, DatabaseSetup::Prepare).await
}

/// A second replica of an application: same database, same configuration and `public_url`
/// (as behind a load balancer), its own port, caches and background tasks.
pub async fn spawn_replica(pool: PgPool, public_url: &str, mut config: Config) -> TestApp {
    config.public_url = public_url.parse().expect("url");
    config.auth.cleanup_interval = mcp_auth_bridge::config::HumanDuration::secs(0);
    let app = Application::build_with(config, pool.clone(), DatabaseSetup::AsIs, None)
        .await
        .expect("replica builds");
    let port = app.port();
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        state,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
    }
}

/// Binds first, so `public_url` (from which issuers, callback and consent URLs derive) can name
/// the real port.
pub async fn spawn_app_with(pool: PgPool, mut config: Config, setup: DatabaseSetup) -> TestApp {
    // `TEST_LOG=1 cargo test …` shows the service's logs (zero2prod's trick); silent otherwise.
    if std::env::var_os("TEST_LOG").is_some() {
        mcp_auth_bridge::telemetry::init(&config.log);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    config.public_url = format!("http://127.0.0.1:{port}").parse().expect("url");
    // Tests run the sweeper explicitly (`run_once`), never in the background.
    config.auth.cleanup_interval = mcp_auth_bridge::config::HumanDuration::secs(0);
    let app = Application::build_with(config, pool.clone(), setup, Some(listener))
        .await
        .expect("application builds");
    let port = app.port();
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        state,
    }
}
