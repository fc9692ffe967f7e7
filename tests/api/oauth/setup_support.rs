//! What the OAuth error tests share: the `acme` tenant behind a fake Keycloak with one public
//! client, and reading an RFC 6749 error answer.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

pub async fn setup(pool: &PgPool) -> (FakeIdp, TestApp, String) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    (idp, app, client_id)
}

pub async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
