//! One upsert writes providers and MCP servers for both owners (the configuration file and
//! the admin API). An API create over a name already taken must write nothing: the 409 has to
//! leave the first row exactly as it was, not merge the second body into it.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::{AdminApp, ROOT, problem};

fn provider(client_id: &str) -> Value {
    json!({
        "name": "kc", "kind": "keycloak", "issuer": "https://idp.example.test/realms/acme",
        "client_id": client_id, "client_secret": "obviously-a-test-secret"
    })
}

#[sqlx::test]
async fn creating_a_provider_over_a_taken_name_is_409_and_leaves_the_first_as_it_was(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    let path = "/admin/v1/tenants/acme/providers";
    let r = admin.post(path, ROOT, provider("first")).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();

    problem(admin.post(path, ROOT, provider("second")).await, 409).await;

    let now: Value = admin
        .get("/admin/v1/tenants/acme/providers/kc", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["client_id"], "first");
    assert_eq!(now["updated_at"], first["updated_at"]);
}

#[sqlx::test]
async fn creating_a_server_over_a_taken_name_is_409_and_leaves_the_first_as_it_was(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    let r = admin
        .post("/admin/v1/tenants/acme/providers", ROOT, provider("bridge"))
        .await;
    assert_eq!(r.status(), 201);
    let path = "/admin/v1/tenants/acme/servers";
    let r = admin
        .post(
            path,
            ROOT,
            json!({"name": "tools", "url": "http://127.0.0.1:9/first"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();

    let second = json!({"name": "tools", "url": "http://127.0.0.1:9/second"});
    problem(admin.post(path, ROOT, second).await, 409).await;

    let now: Value = admin
        .get("/admin/v1/tenants/acme/servers/tools", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["url"], "http://127.0.0.1:9/first");
    assert_eq!(now["updated_at"], first["updated_at"]);
}
