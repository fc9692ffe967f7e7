//! Clients, consents, signing keys, the user-context cache and the sweeper through the API.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::{ACME, AdminApp, ROOT, admin_tokens, problem};
use crate::gateway::setup;

fn ping() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}

#[sqlx::test]
async fn deleting_a_client_revokes_its_tokens_and_consents_can_be_listed_and_revoked(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let token = s.token("demo", "mcp").await;
    let get = |path: String| s.app.http.get(s.app.url(&path)).bearer_auth(ACME).send();
    // 1. The client is listed; no secret hash in sight.
    let page: Value = get("/admin/v1/tenants/acme/clients".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == s.client_id.as_str())
    );
    assert!(page["items"][0].get("client_secret_hash").is_none());
    assert_eq!(
        get(format!("/admin/v1/tenants/acme/clients/{}", s.client_id))
            .await
            .unwrap()
            .status(),
        200
    );
    // 2. The user's consent, by subject and by client; revoke it.
    let consents: Value = get(format!(
        "/admin/v1/tenants/acme/consents?client_id={}",
        s.client_id
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let consent = &consents["items"][0];
    assert!(consent["revoked_at"].is_null());
    let id = consent["id"].as_str().unwrap();
    let r = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/admin/v1/tenants/acme/consents/{id}/revoke")),
        )
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap();
    let revoked: Value = r.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string());
    // 3. Deleting the client ends its user's access at once.
    let r = s
        .app
        .http
        .delete(
            s.app
                .url(&format!("/admin/v1/tenants/acme/clients/{}", s.client_id)),
        )
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        s.post("demo", &token, None, ping())
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    problem(
        get(format!("/admin/v1/tenants/acme/clients/{}", s.client_id))
            .await
            .unwrap(),
        404,
    )
    .await;
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM grants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(grants, 0);
}

#[sqlx::test]
async fn rotating_keys_keeps_the_old_key_published(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    let r = admin
        .post("/admin/v1/tenants/acme/keys/rotate", ACME, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let rotation: Value = r.json().await.unwrap();
    let keys: Value = admin
        .get("/admin/v1/tenants/acme/keys", ACME)
        .await
        .json()
        .await
        .unwrap();
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kid"], rotation["kid"]);
    assert_eq!(items[0]["status"], "active");
    assert_eq!(items[1]["status"], "retired");
    assert!(
        items.iter().all(|k| k["public_jwk"].get("d").is_none()),
        "no private part"
    );
    let jwks: Value = admin
        .app
        .http
        .get(admin.app.url("/t/acme/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
}

#[sqlx::test]
async fn cache_and_sweeper_endpoints_answer_and_need_the_right_token(pool: PgPool) {
    let admin = AdminApp::spawn(pool).await;
    admin.tenant("acme").await;
    let stats: Value = admin
        .get("/admin/v1/cache", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert!(stats["user_contexts"].is_u64());
    problem(admin.get("/admin/v1/cache", ACME).await, 403).await;
    let r = admin
        .post("/admin/v1/tenants/acme/cache/flush", ACME, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let r = admin
        .post(
            &format!(
                "/admin/v1/tenants/acme/grants/{}/cache/flush",
                uuid::Uuid::new_v4()
            ),
            ACME,
            json!({}),
        )
        .await;
    problem(r, 404).await;
    // The sweeper: no run yet, run one, then it is the last run.
    let status: Value = admin
        .get("/admin/v1/sweeper", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert!(status["last_run"].is_null());
    let run: Value = admin
        .post("/admin/v1/sweeper/run", ROOT, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["skipped"], false);
    let status: Value = admin
        .get("/admin/v1/sweeper", ROOT)
        .await
        .json()
        .await
        .unwrap();
    assert!(status["last_run"]["finished_at"].is_string());
    problem(
        admin.post("/admin/v1/sweeper/run", ACME, json!({})).await,
        403,
    )
    .await;
}
