//! Refresh token reuse detection: a reused token within the grace period gets the same
//! successor, after it the family is revoked, even once the sweeper deleted the old row; a
//! forged token revokes nothing.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{app_support::test_config, oauth_support::Flow};

use super::setup_support::{error_of, setup};

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
