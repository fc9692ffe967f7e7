//! RFC 7591 dynamic registration and RFC 7592 read/delete, the rate limit and the per-tenant
//! cap. Hostile input is in `registration_hostile`.

use mcp_auth_bridge::crypto::hash;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::app_support::{TestApp, spawn_app, test_config};

pub const TENANTS: &str = r#"
[[tenants]]
slug = "acme"
scopes = ["mcp", "mcp:tools"]
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
client_secret = "dummy-provider-secret"
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9/mcp"

[[tenants]]
slug = "other"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/other"
client_id = "bridge"
client_secret = "dummy-provider-secret"
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9/mcp"
"#;

/// Hostile-input tests send many requests; the limiter has its own test.
pub const GENEROUS: &str = "[registration]\nrate_limit_per_minute = 10000\n";

pub async fn app(pool: PgPool, registration: &str) -> TestApp {
    app_with_body_limit(pool, registration, None).await
}

/// `[server]` is already in the base configuration, so the body limit is set on the value.
pub async fn app_with_body_limit(
    pool: PgPool,
    registration: &str,
    limit: Option<usize>,
) -> TestApp {
    let mut config = test_config(&format!("{registration}\n{TENANTS}"));
    if let Some(limit) = limit {
        config.server.max_body_bytes = limit;
    }
    spawn_app(pool, config).await
}

pub async fn register(app: &TestApp, tenant: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url(&format!("/t/{tenant}/register")))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn public_client() -> Value {
    json!({
        "redirect_uris": ["http://127.0.0.1:3000/callback"],
        "token_endpoint_auth_method": "none",
        "client_name": "Test client",
        "scope": "mcp"
    })
}

#[sqlx::test]
async fn a_public_client_registers_and_gets_no_secret(pool: PgPool) {
    let app = app(pool, GENEROUS).await;

    let response = app.post_register("acme", &public_client()).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let client_id = body["client_id"].as_str().unwrap();
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["redirect_uris"],
        json!(["http://127.0.0.1:3000/callback"])
    );
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["application_type"], "web");
    assert_eq!(body["client_name"], "Test client");
    assert_eq!(body["scope"], "mcp");
    assert!(body["client_id_issued_at"].is_i64());
    assert!(body["registration_access_token"].is_string());
    assert_eq!(
        body["registration_client_uri"],
        app.url(&format!("/t/acme/register/{client_id}"))
    );
    let (kind, secret_hash): (String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT kind, client_secret_hash FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), secret_hash), ("dynamic", None));
}

#[sqlx::test]
async fn a_confidential_client_gets_its_secret_once_and_only_the_hash_is_stored(pool: PgPool) {
    let app = app(pool, GENEROUS).await;

    let (status, body) = register(
        &app,
        "acme",
        &json!({"redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["client_secret_expires_at"], 0);
    let secret = body["client_secret"].as_str().unwrap();
    let token = body["registration_access_token"].as_str().unwrap();
    let row: (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT client_secret_hash, registration_token_hash, row_to_json(c)::text
         FROM oauth_clients c WHERE client_id = $1",
    )
    .bind(body["client_id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.0, hash::sha256(secret.as_bytes()));
    assert_eq!(row.1, hash::sha256(token.as_bytes()));
    assert!(
        !row.2.contains(secret),
        "the plaintext secret is nowhere in the row"
    );
    assert!(
        !row.2.contains(token),
        "the plaintext token is nowhere in the row"
    );

    let read = app
        .http
        .get(
            body["registration_client_uri"]
                .as_str()
                .unwrap()
                .replace("http://127.0.0.1:1", &app.address),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let read: Value = read.json().await.unwrap();
    assert!(
        read.get("client_secret").is_none(),
        "RFC 7592 read never shows the secret"
    );
}

#[sqlx::test]
async fn the_registration_token_reads_and_deletes_its_client_and_nothing_else(pool: PgPool) {
    // 1. Register.
    let app = app(pool, GENEROUS).await;
    let (_, body) = register(&app, "acme", &public_client()).await;
    let client_id = body["client_id"].as_str().unwrap();
    let token = body["registration_access_token"].as_str().unwrap();
    let path = format!("/t/acme/register/{client_id}");

    // 2. Read with the token.
    let read = app
        .http
        .get(app.url(&path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_id"], client_id);
    assert_eq!(read["client_name"], "Test client");

    // 3. No token, a wrong token, the right token at another tenant: all 401, same shape.
    for request in [
        app.http.get(app.url(&path)),
        app.http.get(app.url(&path)).bearer_auth("wrong"),
        app.http
            .get(app.url(&path))
            .header("authorization", format!("Basic {token}")),
        app.http.delete(app.url(&path)).bearer_auth("wrong"),
        app.http
            .get(app.url(&format!("/t/other/register/{client_id}")))
            .bearer_auth(token),
        app.http
            .delete(app.url(&format!("/t/other/register/{client_id}")))
            .bearer_auth(token),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }

    // 4. Delete, then the client and its token are gone.
    let deleted = app
        .http
        .delete(app.url(&path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = app
        .http
        .get(app.url(&path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_clients")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[sqlx::test]
async fn private_use_scheme_redirects_are_for_native_apps_only(pool: PgPool) {
    let app = app(pool, GENEROUS).await;
    let native = json!({
        "redirect_uris": ["com.example.app:/cb"],
        "application_type": "native",
        "token_endpoint_auth_method": "none"
    });
    let (status, body) = register(&app, "acme", &native).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["application_type"], "native");

    let mut web = native.clone();
    web["application_type"] = json!("web");
    let (status, body) = register(&app, "acme", &web).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_redirect_uri");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("redirect_uris[0]")
    );
}

#[sqlx::test]
async fn an_unknown_tenant_is_404_and_disabled_registration_is_403(pool: PgPool) {
    let app = app(pool.clone(), GENEROUS).await;
    let (status, body) = register(&app, "nobody", &public_client()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "invalid_request");
    let (status, _) = register(&app, "../acme", &public_client()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let disabled = app_without_registration(pool).await;
    let (status, body) = register(&disabled, "acme", &public_client()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "access_denied");
}

async fn app_without_registration(pool: PgPool) -> TestApp {
    app(pool, "[registration]\nenabled = false\n").await
}

#[sqlx::test]
async fn registrations_beyond_the_per_ip_rate_are_429_with_retry_after(pool: PgPool) {
    let app = app(pool, "[registration]\nrate_limit_per_minute = 2\n").await;
    for _ in 0..2 {
        let (status, _) = register(&app, "acme", &public_client()).await;
        assert_eq!(status, StatusCode::CREATED);
    }

    let response = app.post_register("acme", &public_client()).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[sqlx::test]
async fn the_per_tenant_cap_stops_registration(pool: PgPool) {
    let app = app(pool, "[registration]\nmax_clients_per_tenant = 1\n").await;
    let (status, _) = register(&app, "acme", &public_client()).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = register(&app, "acme", &public_client()).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client_metadata");
    assert_eq!(body["error_description"], "registration limit reached");
    let (status, _) = register(&app, "other", &public_client()).await;
    assert_eq!(status, StatusCode::CREATED, "the cap is per tenant");
}
