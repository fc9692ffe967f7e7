//! Races on single-use things: concurrent redemptions of one code, concurrent uses of one
//! refresh token. The counts are the assertion.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    app_support::{spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

#[sqlx::test]
async fn fifty_concurrent_redemptions_of_one_code_give_exactly_one_token_response(pool: PgPool) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let code = flow.code().await;

    let statuses: Vec<StatusCode> = join_all((0..50).map(|_| flow.redeem(&code)))
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((ok, refused), (1, 49), "{statuses:?}");
    let families: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_token_families")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(families, 1, "one family was issued");
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_token_families WHERE revoked_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(live, 0, "the replays revoked what the winner got");
}

#[sqlx::test]
async fn fifty_concurrent_uses_of_one_refresh_token_rotate_it_once_and_all_get_the_same_pair(
    pool: PgPool,
) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let tokens = flow.tokens().await;
    let old = tokens["refresh_token"].as_str().unwrap();

    let responses = join_all((0..50).map(|_| flow.refresh(old))).await;
    let mut bodies = Vec::new();
    for r in responses {
        assert_eq!(r.status(), StatusCode::OK);
        bodies.push(r.json::<Value>().await.unwrap());
    }

    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every caller received the one successor"
    );
    let generations: Vec<(i32, String)> =
        sqlx::query_as("SELECT generation, status FROM refresh_tokens ORDER BY generation")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        generations,
        vec![(1, "rotated".into()), (2, "active".into())]
    );
    let access_tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM access_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        access_tokens, 2,
        "one from the code, one from the single rotation"
    );
    let next: Value = flow
        .refresh(bodies[0]["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(next["access_token"].is_string(), "the successor works");
}

/// The rotation reads the token without a lock and rotates it only if it is still active
/// (issue 13): a revocation of the family racing twenty presentations must leave at most one
/// rotation, and no successor that still works.
#[sqlx::test]
async fn twenty_refreshes_racing_the_revocation_of_their_token_leave_no_live_successor(
    pool: PgPool,
) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let tokens = flow.tokens().await;
    let old = tokens["refresh_token"].as_str().unwrap();

    let form = [("token", old), ("client_id", client_id.as_str())];
    let revoke = app.post_revoke("acme", &form);
    let refreshes = join_all((0..20).map(|_| flow.refresh(old)));
    let (revoked, responses) = tokio::join!(revoke, refreshes);

    assert_eq!(revoked.status(), StatusCode::OK);
    let mut successors = Vec::new();
    for r in responses {
        match r.status() {
            StatusCode::OK => successors.push(r.json::<Value>().await.unwrap()),
            StatusCode::BAD_REQUEST => {}
            other => panic!("refresh answered {other}"),
        }
    }
    assert!(
        successors.iter().all(|b| *b == successors[0]),
        "at most one rotation: every success is the same pair"
    );
    let rotations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE generation > 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(rotations <= 1, "{rotations} successors");
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id
         WHERE t.status = 'active' AND f.revoked_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(live, 0, "the family is revoked whoever won");
    if let Some(pair) = successors.first() {
        let again = flow.refresh(pair["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            again.status(),
            StatusCode::BAD_REQUEST,
            "the successor is refused"
        );
    }
}
