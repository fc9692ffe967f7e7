//! `/admin/v1/tenants`: the CRUD cycle, config-owned tenants refused, signing key on creation.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{AdminApp, ROOT, error_paths, problem};

#[sqlx::test]
async fn a_tenant_is_created_read_updated_listed_and_deleted(pool: PgPool) {
    let admin = AdminApp::spawn(pool.clone()).await;
    // 1. Create: defaults filled in, a signing key made, the JWKS served.
    let r = admin
        .post(
            "/admin/v1/tenants",
            ROOT,
            json!({"slug": "beta", "display_name": "Beta", "scopes": ["mcp", "mcp:read"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/admin/v1/tenants/beta");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["source"], "api");
    assert_eq!(created["status"], "active");
    let jwks: Value = admin
        .app
        .http
        .get(admin.app.url("/t/beta/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    // 2. Creating it again conflicts.
    problem(
        admin
            .post("/admin/v1/tenants", ROOT, json!({"slug": "beta"}))
            .await,
        409,
    )
    .await;
    // 3. Update: disable it, set and then clear the token lifetime.
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/beta",
            ROOT,
            json!({"status": "disabled", "access_token_ttl_seconds": 600}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["status"], "disabled");
    assert_eq!(updated["access_token_ttl_seconds"], 600);
    // A disabled tenant's endpoints answer as if it did not exist.
    let r = admin
        .app
        .http
        .get(admin.app.url("/t/beta/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/beta",
            ROOT,
            json!({"access_token_ttl_seconds": null}),
        )
        .await;
    let cleared: Value = r.json().await.unwrap();
    assert!(cleared["access_token_ttl_seconds"].is_null());
    assert_eq!(cleared["display_name"], "Beta");
    // 4. List and get.
    let list: Value = admin
        .get("/admin/v1/tenants", ROOT)
        .await
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["beta", "from-config"]);
    assert_eq!(
        admin.get("/admin/v1/tenants/beta", ROOT).await.status(),
        200
    );
    // 5. Delete; then it is gone.
    assert_eq!(
        admin.delete("/admin/v1/tenants/beta", ROOT).await.status(),
        204
    );
    problem(admin.get("/admin/v1/tenants/beta", ROOT).await, 404).await;
    problem(admin.delete("/admin/v1/tenants/beta", ROOT).await, 404).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_keys s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'beta'")
        .fetch_one(&pool).await.unwrap();
    assert_eq!(left, 0);
}

#[sqlx::test]
async fn invalid_fields_are_all_reported_with_their_paths(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("gamma").await;
    let r = admin
        .send(Method::PATCH, "/admin/v1/tenants/gamma", ROOT, json!({"display_name": " ", "scopes": ["ok", "bad\"scope"], "access_token_ttl_seconds": 0}))
        .await;
    let body = problem(r, 422).await;
    assert_eq!(
        error_paths(&body),
        ["/display_name", "/scopes/1", "/access_token_ttl_seconds"]
    );
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/gamma",
            ROOT,
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/status"]);
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/gamma",
            ROOT,
            json!({"unknown": 1}),
        )
        .await;
    problem(r, 422).await;
    problem(
        admin
            .send(Method::PATCH, "/admin/v1/tenants/nope", ROOT, json!({}))
            .await,
        404,
    )
    .await;
}

#[sqlx::test]
async fn a_tenant_from_the_configuration_file_is_marked_and_cannot_be_changed(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    let t: Value = admin
        .get("/admin/v1/tenants/from-config", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["source"], "config");
    let r = admin
        .send(
            Method::PATCH,
            "/admin/v1/tenants/from-config",
            ROOT,
            json!({"display_name": "Changed"}),
        )
        .await;
    let body = problem(r, 409).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("configuration file")
    );
    problem(
        admin.delete("/admin/v1/tenants/from-config", ROOT).await,
        409,
    )
    .await;
}
