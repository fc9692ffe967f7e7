//! Every way an authorization can go wrong, and the shape of each answer: an error page (never a
//! redirect) before the client and redirect URI are trusted, an RFC 6749 redirect after, RFC 6749
//! JSON at the token endpoint.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    helpers::{TestApp, spawn_app, test_config},
    oauth_support::{
        Flow, REDIRECT_URI, browser, hidden_field, keycloak_tenant, location, public_client,
        query_param,
    },
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

async fn setup(pool: &PgPool) -> (FakeIdp, TestApp, String) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    (idp, app, client_id)
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[sqlx::test]
async fn a_redirect_uri_mismatch_shows_a_page_and_never_redirects(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    for evil in [
        "http://127.0.0.1:7777/callback/../evil",
        "https://evil.example/callback",
        "http://127.0.0.1:7777/callbackx",
    ] {
        let url = flow
            .authorize_url(&[])
            .replace(&urlencode(REDIRECT_URI), &urlencode(evil));
        let r = flow.browser.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{evil}");
        assert!(r.headers().get("location").is_none(), "{evil}");
        assert!(r.text().await.unwrap().contains("redirect_uri"));
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[sqlx::test]
async fn an_unknown_client_or_a_repeated_parameter_shows_a_page(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", "no-such-client");
    let r = flow
        .browser
        .get(flow.authorize_url(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    let flow = Flow::new(&app, "acme", &client_id);
    let r = flow
        .browser
        .get(format!("{}&state=again", flow.authorize_url(&[])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

#[sqlx::test]
async fn request_errors_after_the_redirect_uri_is_trusted_redirect_with_state_and_iss(
    pool: PgPool,
) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("scope", "mcp:root")], "invalid_scope"),
        (
            &[("resource", "https://elsewhere.example/mcp")],
            "invalid_target",
        ),
        (&[("scope", "bad\"scope")], "invalid_scope"),
        (
            &[("resource", "http://127.0.0.1:1/t/acme/mcp/toolsx")],
            "invalid_target",
        ),
    ];
    for (extra, expected) in cases {
        let r = flow
            .browser
            .get(flow.authorize_url(extra))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let to = location(&r);
        assert!(to.starts_with(REDIRECT_URI));
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some(expected),
            "{extra:?}"
        );
        assert_eq!(query_param(&to, "state").as_deref(), Some("client-state-1"));
        assert_eq!(query_param(&to, "iss").unwrap(), app.url("/t/acme"));
    }
    let no_pkce = flow
        .authorize_url(&[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let to = location(&flow.browser.get(no_pkce).send().await.unwrap());
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request")
    );
    let wrong_type = flow
        .authorize_url(&[])
        .replace("response_type=code", "response_type=token");
    let to = location(&flow.browser.get(wrong_type).send().await.unwrap());
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unsupported_response_type")
    );
}

#[sqlx::test]
async fn denying_consent_returns_access_denied_and_nothing_goes_upstream(pool: PgPool) {
    let (idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let html = flow
        .browser
        .get(flow.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("pending", hidden_field(&html, "pending")),
        ("csrf", hidden_field(&html, "csrf")),
        ("decision", "deny".into()),
    ];
    let r = flow
        .browser
        .post(app.url("/t/acme/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(idp.counters().authorize, 0);
}

#[sqlx::test]
async fn a_forged_csrf_token_or_a_consent_from_another_browser_is_refused(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let html = flow
        .browser
        .get(flow.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pending = hidden_field(&html, "pending");
    let forged = [
        ("pending", pending.clone()),
        ("csrf", "forged".to_string()),
        ("decision", "approve".into()),
    ];
    let r = flow
        .browser
        .post(app.url("/t/acme/consent"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let stranger = [
        ("pending", pending),
        ("csrf", hidden_field(&html, "csrf")),
        ("decision", "approve".into()),
    ];
    let r = browser()
        .post(app.url("/t/acme/consent"))
        .form(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "another browser has no consent cookie"
    );
}

#[sqlx::test]
async fn the_consent_page_cannot_be_framed_or_cached(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let r = flow
        .browser
        .get(flow.authorize_url(&[]))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Test MCP Client")
            && html.contains("127.0.0.1")
            && html.contains("on your own computer")
    );
    assert!(!html.contains("<script"));
}

#[sqlx::test]
async fn a_callback_in_another_browser_or_a_replayed_state_is_refused(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let html = flow
        .browser
        .get(flow.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let upstream = flow.approve(&html).await;
    let callback = location(&flow.browser.get(&upstream).send().await.unwrap());
    let r = browser().get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a login fixation attempt"
    );
    let r = flow.browser.get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "the refused attempt left the authorization to the real browser"
    );
    let r = flow.browser.get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the state was consumed by the first use"
    );
}

#[sqlx::test]
async fn an_upstream_denial_comes_back_to_the_client_as_access_denied(pool: PgPool) {
    let (idp, app, client_id) = setup(&pool).await;
    idp.deny_next_login();
    let redirect = Flow::new(&app, "acme", &client_id).run_to_client(&[]).await;
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("client-state-1")
    );
}

#[sqlx::test]
async fn a_pkce_mismatch_is_invalid_grant_and_burns_the_code(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let mut flow = Flow::new(&app, "acme", &client_id);
    let code = flow.code().await;
    let right = std::mem::replace(&mut flow.verifier, "x".repeat(43));
    assert_eq!(
        error_of(flow.redeem(&code).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    flow.verifier = right;
    assert_eq!(error_of(flow.redeem(&code).await).await.1, "invalid_grant");
}

#[sqlx::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_it_issued(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let code = flow.code().await;
    let first: Value = flow.redeem(&code).await.json().await.unwrap();
    let replay = flow.redeem(&code).await;
    assert_eq!(
        error_of(replay).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let r = app
        .http
        .get(app.url("/t/acme/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_of(flow.refresh(first["refresh_token"].as_str().unwrap()).await)
            .await
            .1,
        "invalid_grant"
    );
}

#[sqlx::test]
async fn an_expired_code_or_a_different_redirect_uri_is_invalid_grant(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let code = flow.code().await;
    sqlx::query("UPDATE authorization_codes SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(error_of(flow.redeem(&code).await).await.1, "invalid_grant");
    let code = flow.code().await;
    let r = app
        .http
        .post(app.url("/t/acme/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:7778/callback"),
            ("client_id", &client_id),
            ("code_verifier", &flow.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_grant");
}

#[sqlx::test]
async fn a_refresh_token_reused_within_the_grace_period_gets_the_same_successor_and_after_it_revokes_the_family(
    pool: PgPool,
) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let tokens = flow.tokens().await;
    let old = tokens["refresh_token"].as_str().unwrap();
    let first: Value = flow.refresh(old).await.json().await.unwrap();
    let retry: Value = flow.refresh(old).await.json().await.unwrap();
    assert_eq!(
        first, retry,
        "a lost response retried within the grace period"
    );
    sqlx::query("UPDATE refresh_tokens SET grace_until = now() - interval '1 second' WHERE grace_until IS NOT NULL").execute(&pool).await.unwrap();
    assert_eq!(error_of(flow.refresh(old).await).await.1, "invalid_grant");
    assert_eq!(
        error_of(flow.refresh(first["refresh_token"].as_str().unwrap()).await)
            .await
            .1,
        "invalid_grant",
        "the family is revoked"
    );
}

#[sqlx::test]
async fn a_rotated_refresh_token_replayed_after_the_sweeper_deleted_it_still_revokes_the_family(
    pool: PgPool,
) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let first = flow.tokens().await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second: Value = flow.refresh(&first).await.json().await.unwrap();
    let third: Value = flow
        .refresh(second["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    // The grace period (5 s by default) is over: the sweeper deletes both rotated generations.
    let later = chrono::Utc::now() + chrono::Duration::minutes(10);
    let report = mcp_auth_bridge::sweeper::Sweeper::new(pool.clone(), &test_config(""))
        .run_once(later)
        .await
        .unwrap();
    assert_eq!(report.deleted["rotated_refresh_tokens"], 2);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1, "only the active generation is left");

    assert_eq!(
        error_of(flow.refresh(&first).await).await.1,
        "invalid_grant"
    );

    let reason: Option<String> =
        sqlx::query_scalar("SELECT revoked_reason FROM refresh_token_families")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("reuse"));
    assert_eq!(
        error_of(flow.refresh(third["refresh_token"].as_str().unwrap()).await)
            .await
            .1,
        "invalid_grant",
        "the family is revoked"
    );
}

#[sqlx::test]
async fn a_forged_tagged_refresh_token_naming_a_later_generation_revokes_nothing(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let live = flow.tokens().await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The right family (the first 32 characters), a generation that was never issued, any
    // random part: unknown, not a reuse.
    let forged = format!("{}{:08x}{}", &live[..32], 7, "A".repeat(43));
    assert_eq!(
        error_of(flow.refresh(&forged).await).await.1,
        "invalid_grant"
    );
    let revoked: bool =
        sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM refresh_token_families")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!revoked);
    assert_eq!(flow.refresh(&live).await.status(), StatusCode::OK);
}

#[sqlx::test]
async fn scope_may_narrow_on_refresh_but_never_widen(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let tokens = flow.tokens().await;
    let url = app.url("/t/acme/token");
    let refresh = |token: String, scope: &'static str| {
        app.http
            .post(&url)
            .form(&[
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", token),
                ("client_id", client_id.clone()),
                ("scope", scope.into()),
            ])
            .send()
    };
    let wide = refresh(
        tokens["refresh_token"].as_str().unwrap().into(),
        "mcp mcp:admin",
    )
    .await
    .unwrap();
    assert_eq!(error_of(wide).await.1, "invalid_scope");
    let narrow: Value = refresh(tokens["refresh_token"].as_str().unwrap().into(), "mcp")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(narrow["scope"], "mcp");
}

#[sqlx::test]
async fn the_token_endpoint_answers_bad_requests_in_rfc_6749_shape(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let url = app.url("/t/acme/token");
    let post = |body: &'static str| {
        app.http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        error_of(
            post("grant_type=password&username=a&password=b")
                .await
                .unwrap()
        )
        .await
        .1,
        "unsupported_grant_type"
    );
    assert_eq!(error_of(post("").await.unwrap()).await.1, "invalid_request");
    assert_eq!(
        error_of(
            post("grant_type=refresh_token&grant_type=refresh_token")
                .await
                .unwrap()
        )
        .await
        .1,
        "invalid_request"
    );
    let json = app
        .http
        .post(&url)
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(json).await.1, "invalid_request");
    let unknown = post("grant_type=refresh_token&refresh_token=x&client_id=nobody")
        .await
        .unwrap();
    assert!(
        unknown.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(
        error_of(unknown).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let secret_from_public = app
        .http
        .post(&url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client_id),
            ("client_secret", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(secret_from_public).await.1, "invalid_client");
    let huge = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=".to_string() + &"x".repeat(1 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[sqlx::test]
async fn a_returning_user_is_not_asked_again_for_a_consent_already_given_but_is_for_more(
    pool: PgPool,
) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    flow.run_to_client(&[("scope", "mcp")]).await;

    let again = flow
        .browser
        .get(flow.authorize_url(&[("scope", "mcp")]))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "straight upstream");
    let more = flow
        .browser
        .get(flow.authorize_url(&[("scope", "mcp mcp:tools")]))
        .send()
        .await
        .unwrap();
    assert_eq!(more.status(), StatusCode::OK, "a wider scope asks again");
    let stranger = Flow::new(&app, "acme", &client_id);
    let r = stranger
        .browser
        .get(stranger.authorize_url(&[("scope", "mcp")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another browser is asked");
}

#[sqlx::test]
async fn an_oversized_body_at_token_revoke_or_introspect_gets_rfc_6749_json_not_plain_text(
    pool: PgPool,
) {
    let (_idp, app, _client_id) = setup(&pool).await;
    for endpoint in ["token", "revoke", "introspect"] {
        let r = app
            .http
            .post(app.url(&format!("/t/acme/{endpoint}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("a=".to_string() + &"x".repeat(1 << 20))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{endpoint}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "{endpoint}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{endpoint}");
    }
}

#[sqlx::test]
async fn a_get_at_token_revoke_or_introspect_gets_a_json_405_with_allow(pool: PgPool) {
    let (_idp, app, _client_id) = setup(&pool).await;
    for endpoint in ["token", "revoke", "introspect"] {
        let r = app
            .http
            .get(app.url(&format!("/t/acme/{endpoint}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{endpoint}");
        assert_eq!(r.headers()["allow"], "POST", "{endpoint}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{endpoint}");
    }
}
