//! RFC 8693 token exchange: an MCP server trades a user's MCP access token for the user's
//! current upstream token.

use futures_util::future::join_all;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client, query_param},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const OTHER: &str = "[[tenants.mcp_servers]]\nname = \"other\"\nurl = \"http://127.0.0.1:9/mcp\"\ntoken_exchange = { client_id = \"other-server\", client_secret = \"other-server-secret-1\" }\n";

async fn setup(pool: &PgPool) -> (FakeIdp, TestApp, String) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, OTHER))).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let redirect = flow
        .run_to_client(&[
            ("resource", &app.url("/t/acme/mcp/tools")),
            ("scope", "mcp"),
        ])
        .await;
    let tokens: Value = flow
        .redeem(&query_param(&redirect, "code").unwrap())
        .await
        .json()
        .await
        .unwrap();
    (
        idp,
        app,
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

fn exchange<'a>(
    app: &'a TestApp,
    id: &'a str,
    secret: &'a str,
    subject: &'a str,
    rejected: Option<&'a str>,
) -> reqwest::RequestBuilder {
    let mut form = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", AT),
    ];
    if let Some(r) = rejected {
        form.push(("rejected_token", r));
    }
    app.http
        .post(app.url("/t/acme/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
}

#[sqlx::test]
async fn an_mcp_server_exchanges_a_users_token_for_the_current_upstream_token(pool: PgPool) {
    let (idp, app, token) = setup(&pool).await;
    let r = exchange(
        &app,
        "tools-server",
        "tools-server-secret-test",
        &token,
        None,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["access_token"], idp.last_access_token().unwrap());
    assert_eq!(body["issued_token_type"], AT);
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'token.exchange' AND actor = 'mcp_server:tools'").fetch_one(&pool).await.unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test]
async fn unknown_credentials_another_servers_token_and_a_revoked_grant_are_refused(pool: PgPool) {
    let (_idp, app, token) = setup(&pool).await;
    let unknown = exchange(&app, "tools-server", "wrong-secret-000000", &token, None)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    let wrong_audience = exchange(&app, "other-server", "other-server-secret-1", &token, None)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_audience.status(), 400);
    assert_eq!(
        wrong_audience.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    sqlx::query("UPDATE grants SET status = 'revoked'")
        .execute(&pool)
        .await
        .unwrap();
    let revoked = exchange(
        &app,
        "tools-server",
        "tools-server-secret-test",
        &token,
        None,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        revoked.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[sqlx::test]
async fn fifty_servers_reporting_the_same_rejected_token_cause_one_refresh(pool: PgPool) {
    let (idp, app, token) = setup(&pool).await;
    let rejected = idp.last_access_token().unwrap();
    let before = idp.counters().token_refresh;

    let answers = join_all((0..50).map(|_| {
        exchange(
            &app,
            "tools-server",
            "tools-server-secret-test",
            &token,
            Some(&rejected),
        )
        .send()
    }))
    .await;

    let mut tokens = Vec::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 200);
        tokens.push(
            a.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(idp.counters().token_refresh - before, 1);
    assert!(
        tokens.iter().all(|t| *t == tokens[0] && *t != rejected),
        "everyone got the one new token"
    );
}

#[sqlx::test]
async fn an_mcp_server_reporting_every_new_token_as_rejected_cannot_make_the_bridge_hammer_the_idp(
    pool: PgPool,
) {
    // Arrange: a server reports the user's upstream token as rejected; it gets a fresh one.
    let (idp, app, token) = setup(&pool).await;
    let (id, secret) = ("tools-server", "tools-server-secret-test");
    let first = idp.last_access_token().unwrap();
    let fresh = exchange(&app, id, secret, &token, Some(&first))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    let before = idp.counters().token_refresh;

    // Act: it then reports the fresh token as rejected, again and again.
    let mut answers = Vec::new();
    for _ in 0..20 {
        let a = exchange(&app, id, secret, &token, Some(&fresh))
            .send()
            .await
            .unwrap();
        let retry_after = a.headers().get("retry-after").is_some();
        let body: Value = a.json().await.unwrap();
        answers.push((body["error"].as_str().map(str::to_owned), retry_after));
    }

    // Assert: no further IdP call within `auth.upstream_min_refresh_interval`; each report is
    // told to come back later (RFC 6749 `temporarily_unavailable` with Retry-After).
    assert_eq!(idp.counters().token_refresh, before);
    assert!(
        answers
            .iter()
            .all(|(e, r)| e.as_deref() == Some("temporarily_unavailable") && *r),
        "{answers:?}"
    );
}
