//! Scope on refresh may only narrow (RFC 6749 section 6).

use serde_json::Value;
use sqlx::PgPool;

use crate::oauth_support::Flow;

use super::setup_support::{error_of, setup};

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
