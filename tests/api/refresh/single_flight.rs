//! One process, many callers: one upstream refresh, everyone gets its result.

use std::time::Duration;

use futures_util::future::join_all;
use sqlx::PgPool;

use super::support::{later, logged_in, status_and_version, stored_refresh_token};
use crate::support::fake_idp::FakeIdpOptions;

#[sqlx::test]
async fn a_hundred_concurrent_callers_of_an_expired_grant_cause_exactly_one_upstream_refresh(
    pool: PgPool,
) {
    // Arrange: a grant whose upstream token has expired by `later()`; the IdP answers slowly
    // enough that every caller arrives while the refresh is in flight.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.set_token_delay(Duration::from_millis(200));
    let refresher = t.app.state.refresher.clone();
    let now = later();

    // Act
    let calls = (0..100).map(|_| {
        let refresher = refresher.clone();
        let grant_id = t.grant_id;
        tokio::spawn(async move { refresher.access_token(grant_id, now).await })
    });
    let results = join_all(calls).await;

    // Assert
    let tokens: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().unwrap().token.expose().clone())
        .collect();
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert!(tokens.iter().all(|tok| *tok == tokens[0]));
    assert_eq!(Some(&tokens[0]), t.idp.last_access_token().as_ref());
    assert_eq!(
        stored_refresh_token(&t.app, t.grant_id).await,
        t.idp.current_refresh_token()
    );
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 2)
    );
    assert_eq!(refresher.in_flight(), 0);
}

#[sqlx::test]
async fn a_token_far_from_expiry_is_used_without_calling_the_idp(pool: PgPool) {
    let t = logged_in(pool, FakeIdpOptions::default()).await;

    let access = t
        .app
        .state
        .refresher
        .access_token(t.grant_id, chrono::Utc::now())
        .await
        .unwrap();

    assert_eq!(
        Some(access.token.expose()),
        t.idp.last_access_token().as_ref()
    );
    assert_eq!(access.version, 1);
    assert_eq!(t.idp.counters().token_refresh, 0);
}

#[sqlx::test]
async fn a_token_within_the_skew_of_its_expiry_is_refreshed_before_use(pool: PgPool) {
    // Arrange: the login's token lives 10 minutes; ask 30 s before it ends (skew: 60 s).
    let opts = FakeIdpOptions {
        access_token_ttl: Some(Duration::from_secs(600)),
        ..FakeIdpOptions::default()
    };
    let t = logged_in(pool, opts).await;
    let first = t.idp.last_access_token().unwrap();
    let almost = chrono::Utc::now() + chrono::Duration::seconds(570);

    // Act
    let access = t
        .app
        .state
        .refresher
        .access_token(t.grant_id, almost)
        .await
        .unwrap();

    // Assert
    assert_ne!(access.token.expose(), &first);
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert!(access.expires_at.unwrap() > almost + chrono::Duration::seconds(500));
}
