//! The token, revocation and introspection endpoints answer every malformed request in
//! RFC 6749 JSON: bad parameters, oversized bodies, wrong methods.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use super::setup_support::{error_of, setup};

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
        let r = app.get(&format!("/t/acme/{endpoint}")).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{endpoint}");
        assert_eq!(r.headers()["allow"], "POST", "{endpoint}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{endpoint}");
    }
}
