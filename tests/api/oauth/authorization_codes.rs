//! Authorization codes: PKCE-bound, single use (a replay revokes what the code issued), short
//! lived and tied to their redirect URI.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::oauth_support::Flow;

use super::setup_support::{error_of, setup};

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
        .get_userinfo("acme", first["access_token"].as_str().unwrap())
        .await;
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
        .post_token(
            "acme",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:7778/callback"),
                ("client_id", &client_id),
                ("code_verifier", &flow.verifier),
            ],
        )
        .await;
    assert_eq!(error_of(r).await.1, "invalid_grant");
}
