//! Consent that cannot be skipped for the wrong user, program or browser: the remembered-user
//! cookie is a hint checked against who actually logged in; a public client's other local
//! programs are asked again; the callback belongs to the browser that approved.

use std::sync::Arc;

use mcp_auth_bridge::{
    cookies,
    store::consents::{self, Consent},
};
use reqwest::{StatusCode, header::LOCATION};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{
        Flow, REDIRECT_URI, browser, hidden_field, keycloak_tenant, location, pkce_pair,
        public_client, query_param,
    },
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

/// The attacker's own upstream subject: they approved their own client once, as themselves.
const ATTACKER: &str = "attacker-subject";

async fn setup(pool: &PgPool) -> (FakeIdp, TestApp, String) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    (idp, app, client_id)
}

/// What an attacker gets by using their own client once as themselves: a consent on record for
/// their subject and a genuine (server-signed) remembered-user cookie naming them.
async fn attackers_own_consent(app: &TestApp, client_id: &str) -> String {
    let (tenant_id, client_pk): (Uuid, Uuid) =
        sqlx::query_as("SELECT tenant_id, id FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let server_id: Uuid =
        sqlx::query_scalar("SELECT id FROM mcp_servers WHERE tenant_id = $1 AND name = 'tools'")
            .bind(tenant_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let scopes = vec!["mcp".to_owned(), "mcp:tools".to_owned()];
    let mut conn = app.pool.acquire().await.unwrap();
    consents::record(
        &mut conn,
        tenant_id,
        &Consent {
            client_pk,
            subject: ATTACKER,
            mcp_server_id: server_id,
            scopes: &scopes,
            redirect_uri: REDIRECT_URI,
        },
    )
    .await
    .unwrap();
    let cookie = cookies::remember_user(&app.state, "acme", ATTACKER);
    cookie.to_str().unwrap().to_owned()
}

/// The victim's browser with the attacker's cookie planted in it (sibling subdomain, shared
/// computer).
fn planted_browser(app: &TestApp, cookie: &str) -> reqwest::Client {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(cookie, &app.url("/").parse().unwrap());
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn codes_issued(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM authorization_codes")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Steps 1–2 of the planted-cookie attack: the victim's browser authorizes the attacker's
/// client and logs in upstream as the victim. Returns the callback's answer.
async fn victim_runs_attackers_authorization(flow: &Flow<'_>) -> reqwest::Response {
    // 1. The planted cookie names a subject who consented: the page is skipped up to the
    //    upstream login (the cookie is a hint).
    let authorize = flow.get_authorize(&[]).await;
    assert_eq!(authorize.status(), StatusCode::SEE_OTHER);
    // 2. The victim logs in upstream as themselves and comes back.
    let idp = flow.visit(location(&authorize)).await;
    flow.visit(location(&idp)).await
}

#[sqlx::test]
async fn a_planted_remember_cookie_does_not_skip_consent_for_another_user(pool: PgPool) {
    // Arrange
    let (_idp, app, client_id) = setup(&pool).await;
    let cookie = attackers_own_consent(&app, &client_id).await;
    let mut flow = Flow::new(&app, "acme", &client_id);
    flow.browser = planted_browser(&app, &cookie);

    // Act
    let back = victim_runs_attackers_authorization(&flow).await;

    // Assert: a consent page, never a redirect to the attacker's URI; no code exists.
    assert_eq!(back.status(), StatusCode::OK);
    assert!(back.headers().get(LOCATION).is_none());
    let cleared = back
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("mab-user=;"));
    assert!(cleared, "the planted cookie is cleared");
    let html = back.text().await.unwrap();
    assert!(html.contains("Allow access?"), "{html}");
    assert_eq!(codes_issued(&pool).await, 0);

    // 3. The victim denies: the client learns access_denied and gets no code.
    let form = [
        ("pending", hidden_field(&html, "pending")),
        ("csrf", hidden_field(&html, "csrf")),
        ("decision", "deny".into()),
    ];
    let denied = flow
        .browser
        .post(app.url("/t/acme/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::SEE_OTHER);
    let to_client = location(&denied);
    assert_eq!(
        query_param(&to_client, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&to_client, "code"), None);
    assert_eq!(codes_issued(&pool).await, 0);
}

#[sqlx::test]
async fn the_consent_page_shown_after_a_planted_cookie_is_csrf_bound_and_approving_it_issues_the_code_to_the_real_user(
    pool: PgPool,
) {
    // Arrange
    let (idp, app, client_id) = setup(&pool).await;
    let cookie = attackers_own_consent(&app, &client_id).await;
    let mut flow = Flow::new(&app, "acme", &client_id);
    flow.browser = planted_browser(&app, &cookie);
    let html = victim_runs_attackers_authorization(&flow)
        .await
        .text()
        .await
        .unwrap();

    // Act 1: the page's form from another browser (no consent cookie) is refused.
    let form = [
        ("pending", hidden_field(&html, "pending")),
        ("csrf", hidden_field(&html, "csrf")),
        ("decision", "approve".into()),
    ];
    let stranger = browser()
        .post(app.url("/t/acme/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);

    // Act 2: the victim approves; the login runs again and the code is theirs.
    let upstream = flow.approve(&html).await;
    let redirect = flow.finish_upstream(&upstream).await;
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    let code = query_param(&redirect, "code").expect("code");
    let tokens: serde_json::Value = flow.redeem(&code).await.json().await.unwrap();
    let me: serde_json::Value = app
        .get_userinfo("acme", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], idp.user().subject);
}

/// `url` with its `redirect_uri` and `code_challenge` replaced: another program's request.
fn as_another_program(url: &str, redirect_uri: &str, challenge: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| match k.as_ref() {
            "redirect_uri" => (k.into_owned(), redirect_uri.to_owned()),
            "code_challenge" => (k.into_owned(), challenge.to_owned()),
            _ => (k.into_owned(), v.into_owned()),
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

#[sqlx::test]
async fn another_local_program_reusing_a_public_clients_id_on_another_loopback_port_is_asked_for_consent(
    pool: PgPool,
) {
    // Arrange: the user approved the native client once, on its port 7777.
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    flow.run_to_client(&[]).await;
    let same_program = flow.get_authorize(&[]).await;
    assert_eq!(
        same_program.status(),
        StatusCode::SEE_OTHER,
        "the approved program itself is not asked again"
    );

    // Act: another program, same client_id, its own loopback port and PKCE challenge.
    let (_, challenge) = pkce_pair();
    let other = as_another_program(
        &flow.authorize_url(&[]),
        "http://127.0.0.1:40404/callback",
        &challenge,
    );
    let r = flow.visit(&other).await;

    // Assert: the consent page, with the loopback warning naming the port.
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Check that you started this"), "{html}");
    assert!(html.contains("127.0.0.1:40404"), "{html}");
}

#[sqlx::test]
async fn the_consent_page_shows_the_redirect_host_beside_the_client_name(pool: PgPool) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", "https://tools.attacker.example/cb").await;
    let flow = Flow::new(&app, "acme", &client_id);
    let url = as_another_program(
        &flow.authorize_url(&[]),
        "https://tools.attacker.example/cb",
        &flow.challenge,
    );
    let r = flow.visit(&url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(
            "<strong>Test MCP Client</strong> <span class=\"host\">at <strong><code>tools.attacker.example</code></strong></span>"
        ),
        "{html}"
    );
    assert!(
        !html.contains("Check that you started this"),
        "no loopback warning for a web host"
    );
}

#[sqlx::test]
async fn a_callback_without_the_consent_cookie_leaves_the_authorization_pending_for_the_real_browser(
    pool: PgPool,
) {
    // Arrange: the user approved and logged in upstream; the callback URL is on its way back.
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let consent = flow.get_authorize(&[]).await;
    let upstream = flow.approve(&consent.text().await.unwrap()).await;
    let idp = flow.visit(&upstream).await;
    let callback = location(&idp);

    // Act: someone else (a leaked URL, a link prefetcher) requests it first, without the cookie.
    let stray = browser().get(&callback).send().await.unwrap();

    // Assert: refused, and the real browser still completes.
    assert_eq!(stray.status(), StatusCode::FORBIDDEN);
    let back = flow.visit(&callback).await;
    assert_eq!(back.status(), StatusCode::FOUND);
    let redirect = location(&back);
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    assert!(query_param(&redirect, "code").is_some());
}
