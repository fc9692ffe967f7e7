//! An upstream 401 reported by many callers at once: one refresh. A report about a token that
//! was already replaced: the new token, no refresh.

use futures_util::future::join_all;
use mcp_auth_bridge::upstream::refresh::{Busy, RefreshError};
use sqlx::PgPool;

use super::support::logged_in;
use crate::support::fake_idp::FakeIdpOptions;

#[sqlx::test]
async fn fifty_callers_reporting_the_same_rejected_token_cause_one_refresh(pool: PgPool) {
    // Arrange: the upstream token is still within its lifetime but the upstream refused it.
    let t = logged_in(pool, FakeIdpOptions::default()).await;
    let rejected = t.idp.last_access_token().unwrap();
    t.idp.set_token_delay(std::time::Duration::from_millis(200));
    let now = chrono::Utc::now();

    // Act
    let calls = (0..50).map(|_| {
        let refresher = t.app.state.refresher.clone();
        let (grant_id, rejected) = (t.grant_id, rejected.clone());
        tokio::spawn(async move { refresher.after_rejection(grant_id, &rejected, now).await })
    });
    let results = join_all(calls).await;

    // Assert
    let tokens: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().unwrap().token.expose().clone())
        .collect();
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert!(tokens.iter().all(|tok| *tok == tokens[0]));
    assert_ne!(tokens[0], rejected);
}

#[sqlx::test]
async fn a_late_report_of_an_old_token_gets_the_new_one_without_a_second_refresh(pool: PgPool) {
    // Arrange: one caller reported the token and got a new one.
    let t = logged_in(pool, FakeIdpOptions::default()).await;
    let refresher = &t.app.state.refresher;
    let old = t.idp.last_access_token().unwrap();
    let now = chrono::Utc::now();
    let fresh = refresher
        .after_rejection(t.grant_id, &old, now)
        .await
        .unwrap();

    // Act: another caller, slower, reports the same old token.
    let late = refresher
        .after_rejection(t.grant_id, &old, now)
        .await
        .unwrap();

    // Assert
    assert_eq!(late.token.expose(), fresh.token.expose());
    assert_eq!(late.version, fresh.version);
    assert_eq!(t.idp.counters().token_refresh, 1);
}

#[sqlx::test]
async fn a_rejected_token_is_refreshed_even_when_it_has_not_expired_and_only_once(pool: PgPool) {
    // A proactive caller at the same moment does not refresh: the token is current.
    let t = logged_in(pool, FakeIdpOptions::default()).await;
    let refresher = &t.app.state.refresher;
    let old = t.idp.last_access_token().unwrap();
    let now = chrono::Utc::now();

    let (rejected, current) = tokio::join!(
        refresher.after_rejection(t.grant_id, &old, now),
        refresher.access_token(t.grant_id, now),
    );

    assert_ne!(rejected.unwrap().token.expose(), &old);
    assert!(current.is_ok());
    assert_eq!(t.idp.counters().token_refresh, 1);
}

#[sqlx::test]
async fn a_rejected_token_reported_again_within_the_minimum_interval_is_not_refreshed_until_it_passes(
    pool: PgPool,
) {
    // Arrange: a report of the login's token refreshed the grant.
    let t = logged_in(pool, FakeIdpOptions::default()).await;
    let refresher = &t.app.state.refresher;
    let now = chrono::Utc::now();
    let first = t.idp.last_access_token().unwrap();
    let fresh = refresher
        .after_rejection(t.grant_id, &first, now)
        .await
        .unwrap();

    // Act: the fresh token is reported as rejected at once, and again after the interval.
    let soon = refresher
        .after_rejection(t.grant_id, fresh.token.expose(), now)
        .await;
    let calls_soon = t.idp.counters().token_refresh;
    let interval = chrono::Duration::seconds(31);
    let later = refresher
        .after_rejection(t.grant_id, fresh.token.expose(), now + interval)
        .await;

    // Assert: one refresh per grant per `auth.upstream_min_refresh_interval` (30 s).
    assert!(
        matches!(
            soon,
            Err(RefreshError::Busy {
                why: Busy::TooSoon,
                ..
            })
        ),
        "{soon:?}"
    );
    assert_eq!(calls_soon, 1);
    assert!(later.is_ok(), "{later:?}");
    assert_eq!(t.idp.counters().token_refresh, 2);
}
