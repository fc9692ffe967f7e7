//! The OpenAPI document: served, committed, and the docs page rendered from it offline.

use serde_json::Value;
use sqlx::PgPool;

use super::AdminApp;

#[test]
fn the_committed_openapi_document_is_up_to_date() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json exists");
    assert!(
        committed == mcp_auth_bridge::admin::openapi_json(),
        "openapi/openapi.json is stale: run `cargo run -- openapi --out openapi/openapi.json`"
    );
}

#[sqlx::test]
async fn the_document_and_the_docs_page_are_served_without_a_token(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    let r = admin
        .app
        .http
        .get(admin.app.url("/admin/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_token"]["scheme"],
        "bearer"
    );
    // Every operation requires the bearer scheme and has a unique id.
    let mut ids = std::collections::HashSet::new();
    for (_, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()));
        }
    }
    let r = admin
        .app
        .http
        .get(admin.app.url("/admin/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("/admin/v1/tenants"));
    // Offline: no script and nothing loaded from elsewhere.
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
}
