//! A sealing key removed from the configuration while rows still need it: `serve` refuses to
//! start and names the key id and the rows; with `crypto.allow_missing_keys` it starts, the
//! affected grant gets the 401 re-authorize challenge, and a token issued before still verifies
//! (the old signing key's public half stays published).

use std::time::Duration;

use mcp_auth_bridge::config::Config;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{TEST_SEALING_KEY, TestApp, spawn_app},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client, query_param},
    support::{
        bridge_process::{BridgeProcess, database_url_for},
        fake_idp::{FakeIdp, FakeIdpOptions},
    },
};

/// Base64 of `TEST-ONLY key2 mcp-auth-bridge 2`: varied enough for production mode.
const NEW_SEALING_KEY: &str = "VEVTVC1PTkxZIGtleTIgbWNwLWF1dGgtYnJpZGdlIDI=";

fn config_toml(public_url: &str, bind: u16, database: &str, crypto: &str, tenants: &str) -> String {
    format!(
        "public_url = \"{public_url}\"\n[server]\nbind = \"127.0.0.1:{bind}\"\nshutdown_grace = \"2s\"\n\
         [database]\nurl = \"{}\"\n[crypto]\n{crypto}\n{tenants}\n",
        database_url_for(database, None)
    )
}

/// The bridge in-process with the sealing key `old`, and an access token for `tools` whose
/// grant (upstream tokens) and tenant signing key are sealed with `old`.
async fn tokens_sealed_with_old(pool: &PgPool, idp: &FakeIdp) -> (TestApp, String) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let crypto = format!("active_key = \"old\"\n[crypto.keys]\nold = \"{TEST_SEALING_KEY}\"");
    let toml = config_toml(
        "http://127.0.0.1:1",
        0,
        &database,
        &crypto,
        &keycloak_tenant(idp, ""),
    );
    let config = Config::load_str(&toml, &[]).unwrap();
    let app = spawn_app(pool.clone(), config).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let resource = app.url("/t/acme/mcp/tools");
    let redirect = flow
        .run_to_client(&[("resource", &resource), ("scope", "mcp")])
        .await;
    let code = query_param(&redirect, "code").unwrap();
    let tokens: Value = flow.redeem(&code).await.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    (app, token)
}

/// The same tenant and database, with only the key `new` configured; served as a child
/// process on its own port under the first app's public URL (tokens name it).
fn without_old_key(pool: &PgPool, idp: &FakeIdp, app: &TestApp, allow: bool) -> (u16, String) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let port = BridgeProcess::free_port();
    let crypto = format!(
        "active_key = \"new\"\nallow_missing_keys = {allow}\n[crypto.keys]\nnew = \"{NEW_SEALING_KEY}\""
    );
    let toml = config_toml(
        &app.address,
        port,
        &database,
        &crypto,
        &keycloak_tenant(idp, ""),
    );
    (port, toml)
}

#[sqlx::test]
async fn serve_refuses_to_start_when_stored_secrets_need_a_sealing_key_that_was_removed(
    pool: PgPool,
) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let (app, _token) = tokens_sealed_with_old(&pool, &idp).await;

    // 1. `old` is removed from the configuration.
    let (port, toml) = without_old_key(&pool, &idp, &app, false);
    let mut bridge = BridgeProcess::spawn(port, &toml, &[]);

    // 2. `serve` exits non-zero, naming the key id and the rows that need it.
    let status = bridge.wait_exit(Duration::from_secs(20)).await;
    let output = bridge.output();
    assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{output}");
    assert!(
        output.contains("\\\"old\\\"") || output.contains("\"old\""),
        "{output}"
    );
    assert!(output.contains("1 grant upstream tokens"), "{output}");
    assert!(output.contains("1 tenant signing keys"), "{output}");
    assert!(output.contains("crypto.allow_missing_keys"), "{output}");
}

#[sqlx::test]
async fn with_allow_missing_keys_the_affected_grant_must_reauthorize_and_old_tokens_still_verify(
    pool: PgPool,
) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let (app, token) = tokens_sealed_with_old(&pool, &idp).await;
    let old_kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();

    // 1. `old` is removed, and the operator allows starting anyway.
    let (port, toml) = without_old_key(&pool, &idp, &app, true);
    let bridge = BridgeProcess::start(port, &toml, &[], Duration::from_secs(30)).await;

    // 2. The token issued before still verifies (its grant, whose upstream tokens cannot be
    //    opened, answers the re-authorize challenge instead of a 502).
    let http = reqwest::Client::new();
    let r = http
        .post(bridge.url("/t/acme/mcp/tools"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error_description"], "the user must authorize again",
        "the signature verified; the grant is what must be renewed"
    );

    // 3. The tenant signs with a new key; the old public key is still published.
    let jwks: Value = http
        .get(bridge.url("/t/acme/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&old_kid.as_str()), "{kids:?}");
    assert_eq!(kids.len(), 2, "the old key and its replacement: {kids:?}");
    let output = bridge.output();
    assert!(output.contains("allow_missing_keys"), "{output}");
}
