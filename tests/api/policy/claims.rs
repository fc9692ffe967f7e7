//! Claims beyond subject, email and name: mapped per provider, bounded, and shown in
//! `/userinfo`, the signed assertion and (opt-in) `X-Auth-Groups` / `X-Auth-Roles`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::support::setup;

fn assertion_payload(headers: &reqwest::header::HeaderMap) -> Value {
    let jwt = headers["x-auth-assertion"].to_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[sqlx::test]
async fn mapped_claims_reach_userinfo_the_assertion_and_the_opted_in_headers(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;

    // 1. /userinfo: the mapped claims beside the standard ones.
    let info: Value = s
        .app
        .get_userinfo("acme", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], s.idp.user().subject);
    assert_eq!(info["groups"], json!(["eng"]));
    assert_eq!(info["roles"], json!(["user"]));
    assert_eq!(info["hd"], "example.com");

    // 2. An allowed call: the server that opted in gets the headers and the assertion's claims.
    let session = s.initialize("demo", &token).await;
    let echo = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"}}});
    let r = s
        .post("demo", &token, Some(&session), echo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = s.mcp.last_headers();
    assert_eq!(seen["x-auth-groups"], "eng");
    assert_eq!(seen["x-auth-roles"], "user");
    let claims = assertion_payload(&seen);
    assert_eq!(claims["groups"], json!(["eng"]));
    assert_eq!(claims["hd"], "example.com");
    assert_eq!(
        claims["sub"],
        s.idp.user().subject,
        "mapped claims never shadow sub"
    );
}

#[sqlx::test]
async fn a_server_that_did_not_opt_in_gets_no_group_headers_and_spoofed_ones_are_removed(
    pool: PgPool,
) {
    let s = setup(&pool, "").await;
    let token = s.token("open", "mcp").await;
    let session = s.initialize("open", &token).await;
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let r = s
        .post("open", &token, Some(&session), ping)
        .header("x-auth-groups", "admins")
        .header("x-auth-roles", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = s.mcp.last_headers();
    assert!(seen.get("x-auth-groups").is_none());
    assert!(seen.get("x-auth-roles").is_none());
    // The signed assertion carries them for every server.
    assert_eq!(assertion_payload(&seen)["roles"], json!(["user"]));
}

#[sqlx::test]
async fn claims_only_in_the_id_token_are_mapped_and_userinfo_wins_on_conflict(pool: PgPool) {
    let s = setup(&pool, "").await;
    // userinfo: no groups; the ID token: groups, and an hd that userinfo contradicts.
    s.idp
        .set_extra_claims(json!({"realm_access": {"roles": ["user"]}, "hd": "example.com"}));
    s.idp
        .set_id_token_claims(json!({"groups": ["eng"], "hd": "id-token.example"}));
    let token = s.token("demo", "mcp").await;

    // 1. The context stored at login: /userinfo.
    let info: Value = s
        .app
        .get_userinfo("acme", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["groups"], json!(["eng"]), "{info}");
    assert_eq!(info["hd"], "example.com", "userinfo wins on conflict");
    assert_eq!(info["roles"], json!(["user"]));

    // 2. The gateway's user loader (userinfo again, on a cache miss) keeps the ID token's groups:
    // the policy lets group `eng` call `add`, and the opted-in header carries it.
    let session = s.initialize("demo", &token).await;
    let add = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}}});
    let r: Value = s
        .post("demo", &token, Some(&session), add)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("result").is_some(), "{r}");
    let seen = s.mcp.last_headers();
    assert_eq!(seen["x-auth-groups"], "eng");
    assert_eq!(assertion_payload(&seen)["hd"], "example.com");
}

#[sqlx::test]
async fn group_claims_over_the_size_limits_are_capped(pool: PgPool) {
    let s = setup(&pool, "").await;
    let many: Vec<String> = (0..1000).map(|i| format!("group-{i}")).collect();
    let huge = "x".repeat(10_000);
    s.idp
        .set_extra_claims(json!({"groups": many, "realm_access": {"roles": ["user"]}, "hd": huge}));
    let token = s.token("demo", "mcp").await;
    let info: Value = s
        .app
        .get_userinfo("acme", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["groups"].as_array().unwrap().len(), 256);
    assert!(
        info.get("hd").is_none(),
        "an oversized value is dropped, not cut"
    );
}

#[test]
fn an_invalid_claim_mapping_is_a_configuration_error_naming_the_key() {
    let toml = r#"
[[tenants]]
slug = "acme"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "http://127.0.0.1:9"
client_id = "c"
client_secret = "s"
claims = { sub = "groups" }
"#;
    let config = format!(
        "public_url = \"http://127.0.0.1:1\"\n[database]\nurl = \"postgres://u@127.0.0.1:1/d\"\n[crypto]\nactive_key = \"test\"\n[crypto.keys]\ntest = \"{}\"\n{toml}",
        crate::app_support::TEST_SEALING_KEY
    );
    let error = mcp_auth_bridge::config::Config::load_str(&config, &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tenants[0].providers[0].claims") && error.contains("sub"),
        "{error}"
    );
}
