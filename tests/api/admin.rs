//! The admin REST API (`/admin/v1`): authentication, problem details, each resource family,
//! tenant isolation, secrets never returned, pagination, the OpenAPI document.

mod auth_and_problems;
mod grants;
mod openapi;
mod operations;
mod resources;
mod ssrf;
mod taken_names;
mod tenants;

use mcp_auth_bridge::crypto::hash::sha256_hex;
use reqwest::{Method, Response};
use serde_json::Value;
use sqlx::PgPool;

use crate::app_support::{TestApp, spawn_app, test_config};

/// The global admin token of these tests (obviously a test value).
pub const ROOT: &str = "root-admin-token-for-tests";
/// A token bound to tenant `acme`.
pub const ACME: &str = "acme-admin-token-for-tests";

/// `[[admin.tokens]]` for [`ROOT`] (global) and [`ACME`] (bound to `acme`), with loopback
/// allowed for admin-API upstream URLs: these tests run their MCP servers and IdPs on
/// 127.0.0.1, which `admin.allowed_upstream_hosts` must allow (see `ssrf.rs` for the rule).
pub fn admin_tokens() -> String {
    format!(
        "[admin]\nallowed_upstream_hosts = [\"127.0.0.0/8\", \"::1\"]\n{}",
        admin_token_list()
    )
}

/// The two tokens without any allow-list: only public upstream hosts are accepted.
pub fn admin_token_list() -> String {
    format!(
        r#"
[[admin.tokens]]
name = "root"
sha256 = "{}"
[[admin.tokens]]
name = "acme-admin"
sha256 = "{}"
tenant = "acme"
"#,
        sha256_hex(ROOT.as_bytes()),
        sha256_hex(ACME.as_bytes())
    )
}

/// A tenant declared in the configuration file (read-only through the API).
pub const CONFIG_TENANT: &str = r#"
[[tenants]]
slug = "from-config"
display_name = "Declared in the file"
"#;

pub struct AdminApp {
    pub app: TestApp,
}

impl AdminApp {
    pub async fn spawn(pool: PgPool) -> Self {
        let config = test_config(&format!("{}{CONFIG_TENANT}", admin_tokens()));
        Self {
            app: spawn_app(pool, config).await,
        }
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn send(&self, method: Method, path: &str, token: &str, body: Value) -> Response {
        self.request(method, path, token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::POST, path, token, body).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, token)
            .send()
            .await
            .unwrap()
    }

    /// Creates an API-owned tenant with the global token.
    pub async fn tenant(&self, slug: &str) -> Value {
        let r = self
            .post(
                "/admin/v1/tenants",
                ROOT,
                serde_json::json!({ "slug": slug }),
            )
            .await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }
}

/// Asserts an RFC 9457 problem with `status`; returns its body.
pub async fn problem(r: Response, status: u16) -> Value {
    assert_eq!(r.status(), status, "unexpected status");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "problems are application/problem+json"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:mcp-auth-bridge:problem:")
    );
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// The JSON Pointers listed in a problem's `errors`.
pub fn error_paths(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["path"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
