//! Policies through the admin API: validated (an invalid rule is named), applied by every
//! replica at once (LISTEN/NOTIFY), dry-run, and the configuration file's policy protected.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;

use super::support::{call, setup, tenant};
use crate::{
    admin::{ROOT, admin_tokens},
    app_support::{TestApp, spawn_replica, test_config},
    gateway::Setup,
};

fn policy_url(app: &TestApp, server: &str) -> String {
    app.url(&format!("/admin/v1/tenants/acme/servers/{server}/policy"))
}

async fn put_policy(app: &TestApp, server: &str, body: Value) -> reqwest::Response {
    app.http
        .put(policy_url(app, server))
        .bearer_auth(ROOT)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A second replica over the same database and configuration.
async fn replica(s: &Setup, pool: &PgPool) -> TestApp {
    let demo: String =
        sqlx::query_scalar("SELECT upstream_url FROM mcp_servers WHERE name = 'demo'")
            .fetch_one(pool)
            .await
            .unwrap();
    let servers = format!(
        "[[tenants.mcp_servers]]\nname = \"demo\"\nurl = \"{demo}\"\nclaim_headers = true\n{}\n\
         [[tenants.mcp_servers]]\nname = \"open\"\nurl = \"{demo}\"\n",
        super::support::POLICY
    );
    let config = test_config(&format!("{}{}", tenant(&s.idp, &servers), admin_tokens()));
    spawn_replica(pool.clone(), &s.app.address, config).await
}

/// The JSON-RPC error code of a `whoami` call on `open` through `app`; `None` when it ran.
async fn whoami_error(app: &TestApp, token: &str, session: &str, id: u64) -> Option<i64> {
    let r: Value = app
        .http
        .post(app.url("/t/acme/mcp/open"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&call(id, "whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["error"]["code"].as_i64()
}

#[sqlx::test]
async fn a_policy_set_through_the_admin_api_takes_effect_on_every_replica(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let b = replica(&s, &pool).await;
    let token = s.token("open", "mcp").await;
    // One MCP session on the one demo server behind both replicas.
    let session = &s.initialize("open", &token).await;
    // Both replicas have loaded the server (no policy) into their target caches.
    assert_eq!(whoami_error(&s.app, &token, session, 1).await, None);
    assert_eq!(whoami_error(&b, &token, session, 1).await, None);

    let deny = json!({"policy": {"rules": [
        {"name": "no-whoami", "effect": "deny", "methods": ["tools/call"], "targets": ["whoami"]}]}});
    let r = put_policy(&s.app, "open", deny).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(whoami_error(&s.app, &token, session, 2).await, Some(-32003));

    // Replica B: within a second (its target cache is dropped by the NOTIFY, not by its TTL).
    let since = Instant::now();
    let mut denied = false;
    for i in 0..100 {
        if whoami_error(&b, &token, session, 10 + i).await == Some(-32003) {
            denied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(denied, "replica B never applied the policy");
    assert!(
        since.elapsed() < Duration::from_secs(3),
        "{:?}",
        since.elapsed()
    );

    // Deleting it allows again, on both.
    let r = s
        .app
        .http
        .delete(policy_url(&s.app, "open"))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut allowed = false;
    for i in 0..100 {
        if whoami_error(&b, &token, session, 200 + i).await.is_none() {
            allowed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(allowed);
}

#[sqlx::test]
async fn an_invalid_rule_is_refused_naming_it_and_nothing_is_stored(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let bad = json!({"policy": {"rules": [
        {"name": "fine", "effect": "allow"},
        {"name": "typo-rule", "effect": "allow", "when": "'eng' in usr.groups"}]}});
    let r = put_policy(&s.app, "open", bad).await;
    assert_eq!(r.status(), 422);
    let problem = r.text().await.unwrap();
    assert!(problem.contains("typo-rule"), "{problem}");

    let unknown_scope = json!({"policy": {"rules": [
        {"name": "step", "effect": "allow", "scopes": ["not-offered"]}]}});
    assert_eq!(
        put_policy(&s.app, "open", unknown_scope).await.status(),
        422
    );
    let stored = s
        .app
        .http
        .get(policy_url(&s.app, "open"))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 404);
}

#[sqlx::test]
async fn the_configuration_files_policy_cannot_be_changed_through_the_api(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let r = put_policy(&s.app, "demo", json!({"policy": null})).await;
    assert_eq!(r.status(), 409);
    let shown: Value = s
        .app
        .http
        .get(policy_url(&s.app, "demo"))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["source"], "config");
    assert_eq!(shown["policy"]["default"], "deny");
    assert_eq!(shown["claim_headers"], true);
}

#[sqlx::test]
async fn the_dry_run_says_what_would_happen_and_which_rule_decided(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let dry = |user: Value, scopes: Value, tool: &str| {
        json!({"user": user, "token": {"scopes": scopes, "client_id": "c"},
            "request": {"method": "tools/call", "target": tool}})
    };
    let url = format!("{}/dry-run", policy_url(&s.app, "demo"));
    let ask = |body: Value| {
        let request = s.app.http.post(&url).bearer_auth(ROOT).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let eng = json!({"sub": "u1", "claims": {"groups": ["eng"]}});
    let admin = json!({"sub": "u2", "claims": {"roles": ["admin"]}});

    let added = ask(dry(eng.clone(), json!(["mcp"]), "add")).await;
    assert_eq!(
        (added["decision"].as_str(), added["rule"].as_str()),
        (Some("allow"), Some("eng-adds"))
    );
    let who = ask(dry(eng, json!(["mcp"]), "whoami")).await;
    assert_eq!(
        (who["decision"].as_str(), who["rule"].as_str()),
        (Some("deny"), Some("no-whoami"))
    );
    let step = ask(dry(admin.clone(), json!(["mcp"]), "countdown")).await;
    assert_eq!(step["decision"], "step_up");
    assert_eq!(step["scopes"], json!(["mcp:tools"]));
    let other = ask(dry(admin, json!(["mcp"]), "slow")).await;
    assert_eq!(
        (other["decision"].as_str(), other["rule"].as_str()),
        (Some("deny"), Some("default"))
    );
}
