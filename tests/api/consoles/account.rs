//! The account page (`/t/{tenant}/account`): a user signs in through the tenant's IdP, sees the
//! grants their MCP clients hold and revokes them; they never see or touch another subject's or
//! another tenant's; every action needs the session's CSRF token.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::support::{account_sign_in, csrf_of, grant_status, insert_grant, page};
use crate::{
    admin::{ROOT, admin_tokens},
    gateway::setup,
    oauth_support::{REDIRECT_URI, browser, location, public_client},
};

fn ping() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}

async fn only_grant(pool: &PgPool) -> uuid::Uuid {
    sqlx::query_scalar("SELECT id FROM grants ORDER BY created_at DESC LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_user_revokes_a_clients_grant_and_its_next_mcp_request_gets_401(pool: PgPool) {
    // 1. An MCP client holds a working token.
    let s = setup(&pool, &admin_tokens()).await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let ok = s
        .post("demo", &token, Some(&session), ping())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let grant = only_grant(&pool).await;
    // 2. The user signs in to the account page and sees that client, where it sends codes,
    //    how it registered, the server and scope, and the tenant's name.
    let b = browser();
    let html = account_sign_in(&s.app, &b, "acme").await;
    assert!(html.contains("Test MCP Client"), "{html}");
    assert!(html.contains("127.0.0.1:7777"), "{html}");
    assert!(html.contains("dynamic client registration"), "{html}");
    assert!(
        html.contains("<code>demo</code>") && html.contains("<code>mcp</code>"),
        "{html}"
    );
    assert!(html.contains("ACME"), "{html}");
    // 3. Revoke, through the confirmation page.
    let confirm = format!("/t/acme/account/grants/{grant}/revoke");
    let csrf = csrf_of(&s.app, &b, &confirm).await;
    let done = b
        .post(s.app.url(&confirm))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).ends_with("/t/acme/account?done=revoked"));
    // 4. The client's very next request is refused, and the page no longer lists it.
    let refused = s
        .post("demo", &token, Some(&session), ping())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let (_, html) = page(&s.app, &b, "/t/acme/account").await;
    assert!(!html.contains("Test MCP Client"), "{html}");
    // 5. Audited with the user as the actor.
    let actor: String = sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE action = 'grant.revoke' AND target_id = $1",
    )
    .bind(grant.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(actor, "user:user-1");
}

#[sqlx::test]
async fn a_user_cannot_see_or_revoke_another_subjects_or_another_tenants_grant(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    // Another subject in the same tenant, and the same subject in another tenant.
    let theirs = insert_grant(&pool, "acme", "someone-else").await;
    let admin = |path: &str, body: Value| {
        s.app
            .http
            .post(s.app.url(path))
            .bearer_auth(ROOT)
            .json(&body)
            .send()
    };
    assert_eq!(
        admin("/admin/v1/tenants", json!({"slug": "other"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let provider = json!({"name": "kc", "kind": "keycloak", "issuer": s.idp.issuer(),
        "client_id": s.idp.client_id(), "client_secret": s.idp.client_secret()});
    let r = admin("/admin/v1/tenants/other/providers", provider)
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    public_client(&pool, "other", REDIRECT_URI).await;
    let other_tenant = insert_grant(&pool, "other", "user-1").await;
    let mine = insert_grant(&pool, "acme", "user-1").await;
    // The page lists only this user's grant in this tenant.
    let b = browser();
    let html = account_sign_in(&s.app, &b, "acme").await;
    assert!(html.contains(&mine.to_string()), "{html}");
    assert!(!html.contains(&theirs.to_string()), "{html}");
    assert!(!html.contains(&other_tenant.to_string()), "{html}");
    // Neither the confirmation page nor the action reaches the others, even with a valid token.
    let csrf = csrf_of(&s.app, &b, &format!("/t/acme/account/grants/{mine}/revoke")).await;
    for id in [theirs, other_tenant] {
        let path = format!("/t/acme/account/grants/{id}/revoke");
        assert_eq!(page(&s.app, &b, &path).await.0, StatusCode::NOT_FOUND);
        let r = b
            .post(s.app.url(&path))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // "Revoke all" takes only this user's grants in this tenant.
    let all = "/t/acme/account/grants/revoke-all";
    let r = b
        .post(s.app.url(all))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(grant_status(&pool, mine).await, "revoked");
    assert_eq!(grant_status(&pool, theirs).await, "active");
    assert_eq!(grant_status(&pool, other_tenant).await, "active");
    // The session is bound to its tenant: it shows nothing of `other`.
    let (_, html) = page(&s.app, &b, "/t/other/account").await;
    assert!(html.contains("Sign in with"), "{html}");
}

#[sqlx::test]
async fn an_account_action_without_the_sessions_csrf_token_is_refused(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let grant = insert_grant(&pool, "acme", "user-1").await;
    let b = browser();
    account_sign_in(&s.app, &b, "acme").await;
    let path = format!("/t/acme/account/grants/{grant}/revoke");
    // A cross-site form post carries the cookie but cannot know the token.
    for form in [vec![("csrf", "forged")], vec![]] {
        let r = b.post(s.app.url(&path)).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // Another browser's token is not this session's.
    let other = browser();
    account_sign_in(&s.app, &other, "acme").await;
    let foreign = csrf_of(&s.app, &other, &path).await;
    let r = b
        .post(s.app.url(&path))
        .form(&[("csrf", foreign.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without a session nothing happens either.
    let anonymous = browser();
    let r = anonymous
        .post(s.app.url(&path))
        .form(&[("csrf", foreign.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(grant_status(&pool, grant).await, "active");
}

#[sqlx::test]
async fn forgetting_a_remembered_consent_asks_again_and_is_audited_as_the_user(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    s.token("demo", "mcp").await;
    let consent: uuid::Uuid = sqlx::query_scalar("SELECT id FROM consents LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let b = browser();
    let html = account_sign_in(&s.app, &b, "acme").await;
    assert!(
        html.contains(&format!("/consents/{consent}/forget")),
        "{html}"
    );
    let path = format!("/t/acme/account/consents/{consent}/forget");
    let csrf = csrf_of(&s.app, &b, &path).await;
    let r = b
        .post(s.app.url(&path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (revoked, actor): (Option<chrono::DateTime<chrono::Utc>>, String) = sqlx::query_as(
        "SELECT k.revoked_at, a.actor FROM consents k JOIN audit_log a ON a.target_id = k.id::text
         WHERE k.id = $1 AND a.action = 'consent.revoke'",
    )
    .bind(consent)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(revoked.is_some());
    assert_eq!(actor, "user:user-1");
}

#[sqlx::test]
async fn signing_out_ends_the_session(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let b = browser();
    let html = account_sign_in(&s.app, &b, "acme").await;
    let csrf = crate::oauth_support::hidden_field(&html, "csrf");
    let r = b
        .post(s.app.url("/t/acme/account/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&s.app, &b, "/t/acme/account").await;
    assert!(html.contains("Sign in with"), "{html}");
}
