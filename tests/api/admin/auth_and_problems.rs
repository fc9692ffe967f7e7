//! Bearer authentication of admin calls and the problem+json shape of every failure.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use super::{ACME, AdminApp, ROOT, error_paths, problem};

#[sqlx::test]
async fn a_call_without_or_with_a_wrong_token_is_401_with_a_bearer_challenge(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    let r = admin
        .app
        .http
        .get(admin.app.url("/admin/v1/tenants"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    problem(r, 401).await;
    problem(admin.get("/admin/v1/tenants", "not-a-token").await, 401).await;
    // Even unknown paths need a token first: nothing is learnt without one.
    problem(admin.get("/admin/v1/nothing-here", "wrong").await, 401).await;
}

#[sqlx::test]
async fn unknown_paths_and_methods_are_problems_too(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    problem(admin.get("/admin/v1/nothing-here", ROOT).await, 404).await;
    let r = admin
        .request(Method::PUT, "/admin/v1/tenants", ROOT)
        .send()
        .await
        .unwrap();
    problem(r, 405).await;
}

#[sqlx::test]
async fn malformed_json_is_400_and_wrong_types_are_422_with_the_field_path(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    // 1. Not JSON at all.
    let r = admin
        .request(Method::POST, "/admin/v1/tenants", ROOT)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(r, 400).await;
    // 2. A wrongly typed field: its JSON Pointer.
    let r = admin
        .post(
            "/admin/v1/tenants",
            ROOT,
            json!({"slug": "ok", "scopes": ["mcp", 7]}),
        )
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/scopes/1"]);
    // 3. A missing required field.
    let r = admin
        .post("/admin/v1/tenants", ROOT, json!({"display_name": "x"}))
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/slug"]);
    // 4. Not an object.
    let r = admin.post("/admin/v1/tenants", ROOT, json!([1, 2])).await;
    problem(r, 422).await;
    // 5. An invalid slug names the field.
    let r = admin
        .post("/admin/v1/tenants", ROOT, json!({"slug": "Not OK"}))
        .await;
    assert_eq!(error_paths(&problem(r, 422).await), ["/slug"]);
}

#[sqlx::test]
async fn a_body_that_is_not_json_or_too_large_is_refused_as_a_problem(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    let r = admin
        .request(Method::POST, "/admin/v1/tenants", ROOT)
        .header("content-type", "text/plain")
        .body("slug=x")
        .send()
        .await
        .unwrap();
    problem(r, 415).await;
    let huge = "x".repeat(200 * 1024);
    let r = admin
        .post(
            "/admin/v1/tenants",
            ROOT,
            json!({"slug": "big", "display_name": huge}),
        )
        .await;
    problem(r, 413).await;
}

#[sqlx::test]
async fn a_tenant_bound_token_cannot_reach_another_tenant_or_global_operations(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    admin.tenant("other").await;
    // Its own tenant: fine.
    assert_eq!(
        admin.get("/admin/v1/tenants/acme", ACME).await.status(),
        200
    );
    // Another tenant, existing or not: 403, so it learns nothing about which exist.
    problem(admin.get("/admin/v1/tenants/other", ACME).await, 403).await;
    problem(admin.get("/admin/v1/tenants/missing", ACME).await, 403).await;
    // The list shows only its tenant.
    let list: serde_json::Value = admin
        .get("/admin/v1/tenants", ACME)
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
    assert_eq!(slugs, ["acme"]);
    // Creating tenants needs a global token.
    problem(
        admin
            .post("/admin/v1/tenants", ACME, json!({"slug": "mine"}))
            .await,
        403,
    )
    .await;
    problem(admin.delete("/admin/v1/tenants/acme", ACME).await, 403).await;
}

#[sqlx::test]
async fn every_change_is_audited_with_the_token_name_and_request_id(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    let r = admin
        .request(Method::POST, "/admin/v1/tenants", ROOT)
        .header("x-request-id", "req-audit-1")
        .json(&json!({"slug": "audited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let page: serde_json::Value = admin
        .get("/admin/v1/audit?action=tenant.create", ROOT)
        .await
        .json()
        .await
        .unwrap();
    let entry = &page["items"][0];
    assert_eq!(entry["actor"], "root");
    assert_eq!(entry["request_id"], "req-audit-1");
    assert_eq!(entry["after"]["slug"], "audited");
    // A tenant-bound token reads only its tenant's entries.
    problem(admin.get("/admin/v1/audit?tenant=audited", ACME).await, 403).await;
}
