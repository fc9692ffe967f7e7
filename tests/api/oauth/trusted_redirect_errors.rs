//! Once the client and redirect URI are trusted, errors go back to the client as an RFC 6749
//! redirect carrying `state` and `iss` (RFC 9207).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::oauth_support::{Flow, REDIRECT_URI, location, query_param};

use super::setup_support::setup;

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
        let r = flow.get_authorize(extra).await;
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
    let to = location(&flow.visit(no_pkce).await);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request")
    );
    let wrong_type = flow
        .authorize_url(&[])
        .replace("response_type=code", "response_type=token");
    let to = location(&flow.visit(wrong_type).await);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unsupported_response_type")
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
