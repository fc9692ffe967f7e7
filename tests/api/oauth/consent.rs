//! The consent step: a refusal sends nothing upstream, the form resists CSRF, framing and
//! caching, and consent already given is not asked again (but more scope is).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::oauth_support::{Flow, browser, hidden_field, location, query_param};

use super::setup_support::setup;

#[sqlx::test]
async fn denying_consent_returns_access_denied_and_nothing_goes_upstream(pool: PgPool) {
    let (idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let html = flow.get_authorize(&[]).await.text().await.unwrap();
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
    let html = flow.get_authorize(&[]).await.text().await.unwrap();
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
    let r = flow.get_authorize(&[]).await;
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
async fn a_returning_user_is_not_asked_again_for_a_consent_already_given_but_is_for_more(
    pool: PgPool,
) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    flow.run_to_client(&[("scope", "mcp")]).await;

    let again = flow.get_authorize(&[("scope", "mcp")]).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "straight upstream");
    let more = flow.get_authorize(&[("scope", "mcp mcp:tools")]).await;
    assert_eq!(more.status(), StatusCode::OK, "a wider scope asks again");
    let stranger = Flow::new(&app, "acme", &client_id);
    let r = stranger.get_authorize(&[("scope", "mcp")]).await;
    assert_eq!(r.status(), StatusCode::OK, "another browser is asked");
}
