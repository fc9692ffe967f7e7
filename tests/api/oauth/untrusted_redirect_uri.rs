//! A client or redirect URI the bridge cannot trust gets an error page, never a redirect
//! (which would hand the error, or an attacker, a code).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::oauth_support::{Flow, REDIRECT_URI};

use super::setup_support::{setup, urlencode};

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
        let r = flow.visit(url).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{evil}");
        assert!(r.headers().get("location").is_none(), "{evil}");
        assert!(r.text().await.unwrap().contains("redirect_uri"));
    }
}

#[sqlx::test]
async fn an_unknown_client_or_a_repeated_parameter_shows_a_page(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", "no-such-client");
    let r = flow.get_authorize(&[]).await;
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
