//! Grants through the admin API: revocation bites at the gateway at once, a user's grants go
//! together, paging stays stable while grants are added, filters and unknown ids.

use mcp_auth_bridge::{
    crypto::Sealer,
    domain::UpstreamTokens,
    store::grants::{self, NewGrant},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::{ACME, ROOT, admin_tokens, problem};
use crate::{app_support::TEST_SEALING_KEY, gateway::setup};

fn ping() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}

async fn grant_id(pool: &PgPool) -> Uuid {
    sqlx::query_scalar("SELECT id FROM grants ORDER BY created_at DESC LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn revoking_a_grant_through_the_api_refuses_the_users_next_gateway_request(pool: PgPool) {
    // 1. A user with a working token and session through the gateway.
    let s = setup(&pool, &admin_tokens()).await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let ok = s
        .post("demo", &token, Some(&session), ping())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let id = grant_id(&pool).await;
    // 2. The admin revokes the grant.
    let r = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/admin/v1/tenants/acme/grants/{id}/revoke")),
        )
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "revoked");
    assert!(body.get("upstream_access_token").is_none());
    // 3. The very next request is refused.
    let refused = s
        .post("demo", &token, Some(&session), ping())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // 4. Audited; revoking again changes nothing and is not audited twice.
    let again = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/admin/v1/tenants/acme/grants/{id}/revoke")),
        )
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'grant.revoke' AND actor = 'root'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[sqlx::test]
async fn revoking_a_user_revokes_all_of_their_grants(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let first = s.token("demo", "mcp").await;
    let second = s.token("demo", "mcp").await;
    let subject: String = sqlx::query_scalar("SELECT subject FROM grants LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let encoded: String = url::form_urlencoded::byte_serialize(subject.as_bytes()).collect();
    // The tenant-bound token of acme may do this in its own tenant.
    let r = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/admin/v1/tenants/acme/users/{encoded}/revoke")),
        )
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revoked"], 2);
    for token in [first, second] {
        let r = s.post("demo", &token, None, ping()).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let listed: Value = s
        .app
        .http
        .get(s.app.url("/admin/v1/tenants/acme/grants?status=active"))
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
}

#[sqlx::test]
async fn unknown_or_malformed_grant_ids_are_404_and_bad_cursors_400(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let get = |path: String| s.app.http.get(s.app.url(&path)).bearer_auth(ROOT).send();
    problem(
        get(format!("/admin/v1/tenants/acme/grants/{}", Uuid::new_v4()))
            .await
            .unwrap(),
        404,
    )
    .await;
    problem(
        get("/admin/v1/tenants/acme/grants/not-a-uuid".into())
            .await
            .unwrap(),
        404,
    )
    .await;
    problem(
        get("/admin/v1/tenants/acme/grants?cursor=garbage".into())
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        get("/admin/v1/tenants/acme/grants?status=weird".into())
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        get("/admin/v1/tenants/acme/grants?limit=0".into())
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        get("/admin/v1/tenants/nope/grants".into()).await.unwrap(),
        404,
    )
    .await;
}

/// Inserts a grant for `subject` straight into the store (the flow is slow for dozens).
async fn insert_grant(pool: &PgPool, subject: &str) {
    let (tenant_id, provider_id): (Uuid, Uuid) = sqlx::query_as(
        "SELECT t.id, p.id FROM tenants t JOIN upstream_providers p ON p.tenant_id = t.id WHERE t.slug = 'acme'",
    ).fetch_one(pool).await.unwrap();
    let client_pk: Uuid =
        sqlx::query_scalar("SELECT id FROM oauth_clients WHERE tenant_id = $1 LIMIT 1")
            .bind(tenant_id)
            .fetch_one(pool)
            .await
            .unwrap();
    let key = mcp_auth_bridge::crypto::seal::decode_key(TEST_SEALING_KEY).unwrap();
    let sealer = Sealer::single("test", key);
    let tokens = UpstreamTokens {
        access_token: "upstream-access-test".into(),
        access_expires_at: None,
        refresh_token: None,
        refresh_expires_at: None,
        scopes: vec![],
        extra: json!({}),
    };
    let mut conn = pool.acquire().await.unwrap();
    grants::insert(
        &mut conn,
        &sealer,
        &NewGrant {
            id: Uuid::new_v4(),
            tenant_id,
            provider_id,
            client_pk,
            subject,
            user_context: &json!({}),
            tokens: &tokens,
        },
    )
    .await
    .unwrap();
}

#[sqlx::test]
async fn pages_stay_stable_while_grants_are_added_between_them(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    for i in 0..5 {
        insert_grant(&pool, &format!("user-{i}")).await;
    }
    let page = |cursor: Option<String>| {
        let mut url = s.app.url("/admin/v1/tenants/acme/grants?limit=2");
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = s.app.http.get(url).bearer_auth(ROOT).send();
        async move { r.await.unwrap().json::<Value>().await.unwrap() }
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(cursor.clone()).await;
        for g in p["items"].as_array().unwrap() {
            seen.push(g["subject"].as_str().unwrap().to_owned());
        }
        // Rows added between two pages come after everything already listed.
        insert_grant(&pool, &format!("late-{}", seen.len())).await;
        match p["next_cursor"].as_str() {
            Some(c) if seen.len() < 40 => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no grant listed twice: {seen:?}");
    assert_eq!(
        &seen[..5],
        ["user-0", "user-1", "user-2", "user-3", "user-4"]
    );
    // The subject filter.
    let r: Value = s
        .app
        .http
        .get(s.app.url("/admin/v1/tenants/acme/grants?subject=user-3"))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
}
