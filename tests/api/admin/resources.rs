//! Providers and MCP servers of a tenant: CRUD, validation, config tenants read-only, and the
//! provider's client secret never returned nor audited.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{ACME, AdminApp, ROOT, error_paths, problem};

const SECRET: &str = "upstream-client-secret-must-never-leak";

fn provider() -> Value {
    json!({
        "name": "kc", "kind": "keycloak", "issuer": "https://idp.example.test/realms/acme",
        "client_id": "bridge", "client_secret": SECRET
    })
}

#[sqlx::test]
async fn a_providers_secret_is_write_only_everywhere(pool: PgPool) {
    let admin = AdminApp::spawn(pool.clone()).await;
    admin.tenant("acme").await;
    // 1. Create: the secret is accepted, sealed, and only flagged in the response.
    let r = admin
        .post("/admin/v1/tenants/acme/providers", ACME, provider())
        .await;
    assert_eq!(r.status(), 201);
    let body = r.text().await.unwrap();
    assert!(!body.contains(SECRET));
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["client_secret_set"], true);
    assert!(view.get("client_secret").is_none());
    // 2. Update it; list and get never show it either.
    let rotated = "rotated-upstream-secret-never-shown";
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/acme/providers/kc",
            ACME,
            json!({"client_secret": rotated, "scopes": ["openid"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    for path in [
        "/admin/v1/tenants/acme/providers",
        "/admin/v1/tenants/acme/providers/kc",
        "/admin/v1/audit",
    ] {
        let text = admin.get(path, ROOT).await.text().await.unwrap();
        assert!(
            !text.contains(SECRET) && !text.contains(rotated),
            "{path} leaks the secret"
        );
    }
    // 3. Stored sealed; not in the audit log in any form.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT client_secret FROM upstream_providers WHERE name = 'kc'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(rotated));
    let audit: String = sqlx::query_scalar("SELECT coalesce(string_agg(coalesce(before::text, '') || coalesce(after::text, ''), ''), '') FROM audit_log")
        .fetch_one(&pool).await.unwrap();
    assert!(!audit.contains(SECRET) && !audit.contains(rotated));
    // 4. Delete.
    assert_eq!(
        admin
            .delete("/admin/v1/tenants/acme/providers/kc", ACME)
            .await
            .status(),
        204
    );
    problem(
        admin.get("/admin/v1/tenants/acme/providers/kc", ACME).await,
        404,
    )
    .await;
}

#[sqlx::test]
async fn provider_rules_are_checked_with_field_paths(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    let r = admin
        .post(
            "/admin/v1/tenants/acme/providers",
            ROOT,
            json!({"name": "x", "kind": "oidc", "issuer": "not a url"}),
        )
        .await;
    let paths = error_paths(&problem(r, 422).await);
    assert_eq!(paths, ["/client_id", "/client_secret", "/issuer"]);
    let r = admin
        .post(
            "/admin/v1/tenants/acme/providers",
            ROOT,
            json!({"name": "d", "kind": "dev"}),
        )
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/kind"]);
    let r = admin
        .post(
            "/admin/v1/tenants/acme/providers",
            ROOT,
            json!({"name": "Bad Name", "kind": "dev"}),
        )
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/name"]);
    assert_eq!(
        admin
            .post("/admin/v1/tenants/acme/providers", ROOT, provider())
            .await
            .status(),
        201
    );
    problem(
        admin
            .post("/admin/v1/tenants/acme/providers", ROOT, provider())
            .await,
        409,
    )
    .await;
    // A config tenant's providers are the file's.
    problem(
        admin
            .post("/admin/v1/tenants/from-config/providers", ROOT, provider())
            .await,
        409,
    )
    .await;
}

#[sqlx::test]
async fn mcp_servers_are_created_updated_and_deleted(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    // Without a provider, users could not log in.
    let server = json!({"name": "tools", "url": "http://127.0.0.1:9/mcp"});
    let r = admin
        .post("/admin/v1/tenants/acme/servers", ROOT, server.clone())
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/provider"]);
    admin
        .post("/admin/v1/tenants/acme/providers", ROOT, provider())
        .await;
    let r = admin
        .post("/admin/v1/tenants/acme/servers", ROOT, json!({"name": "tools", "url": "http://127.0.0.1:9/mcp",
            "token_exchange": {"client_id": "tools", "client_secret": "exchange-secret-never-shown"}}))
        .await;
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains("exchange-secret-never-shown"));
    let view: Value = serde_json::from_str(&text).unwrap();
    assert!(
        view["resource_url"]
            .as_str()
            .unwrap()
            .ends_with("/t/acme/mcp/tools")
    );
    assert_eq!(view["token_exchange_client_id"], "tools");
    // The server's protected-resource metadata is served at once.
    let meta = admin
        .app
        .http
        .get(
            admin
                .app
                .url("/.well-known/oauth-protected-resource/t/acme/mcp/tools"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 200);
    problem(
        admin
            .post("/admin/v1/tenants/acme/servers", ROOT, server)
            .await,
        409,
    )
    .await;
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/acme/servers/tools",
            ROOT,
            json!({"provider": "nope"}),
        )
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/provider"]);
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/acme/servers/tools",
            ROOT,
            json!({"required_scopes": ["mcp"], "token_exchange": null}),
        )
        .await;
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["required_scopes"], json!(["mcp"]));
    assert!(updated["token_exchange_client_id"].is_null());
    let list: Value = admin
        .get("/admin/v1/tenants/acme/servers", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        admin
            .delete("/admin/v1/tenants/acme/servers/tools", ROOT)
            .await
            .status(),
        204
    );
    problem(
        admin
            .delete("/admin/v1/tenants/acme/servers/tools", ROOT)
            .await,
        404,
    )
    .await;
}
