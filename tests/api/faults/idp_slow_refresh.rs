//! A slow or hung IdP token endpoint during upstream refreshes (issue 12, item 1). Before the
//! fix, an attempt timed out after 5 s and was retried with the same rotating refresh token; the
//! IdP had processed the first, took the second for reuse and revoked the grant. Now the one
//! call waits up to `auth.upstream_refresh_timeout` (30 s) in the background while clients get
//! 503 `Retry-After` at `auth.upstream_refresh_wait` (10 s), and its answer is stored.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use sqlx::PgPool;

use super::refresh_support::{call, forwarding, grant_state, wait_for_version};

#[sqlx::test]
async fn an_idp_slow_for_25_seconds_is_asked_once_and_the_grant_survives(pool: PgPool) {
    // Arrange: an IdP with reuse detection (a second use of a spent refresh token revokes the
    // grant), a user whose upstream token is due, and a token endpoint that takes 25 s.
    let f = forwarding(&pool, "").await;
    f.idp.set_refresh_reuse_detection(true);
    let (token, grant) = f.log_in().await;
    let base = f.app.address.clone();
    assert_eq!(call(&base, &token, 1).send().await.unwrap().status(), 200);
    f.make_due().await;
    f.idp.set_token_delay(Duration::from_secs(25));

    // Act 1: a request while the IdP is slow is answered at the caller's deadline, not at 25 s.
    let started = Instant::now();
    let slow = call(&base, &token, 2).send().await.unwrap();
    let waited = started.elapsed();

    // Assert 1: 503 with Retry-After after about `upstream_refresh_wait`; the call goes on.
    assert_eq!(slow.status(), 503);
    assert!(slow.headers().get("retry-after").is_some());
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "{waited:?}"
    );

    // Act 2: the IdP answers at 25 s; the answer is stored.
    assert!(wait_for_version(&pool, grant, 1, Duration::from_secs(25)).await);
    f.idp.set_token_delay(Duration::ZERO);
    let after = call(&base, &token, 3).send().await.unwrap();

    // Assert 2: one refresh at the IdP, the grant alive and working.
    assert_eq!(after.status(), 200);
    assert_eq!(f.idp.counters().token_refresh, 1);
    assert_eq!(grant_state(&pool, grant).await, ("active".into(), 2));
}

#[sqlx::test]
async fn an_idp_hung_for_10_seconds_then_back_loses_no_grant(pool: PgPool) {
    // Arrange: two users whose upstream tokens are due; the IdP holds every token request for
    // 10 s and then answers it (a stalled IdP that comes back), with reuse detection.
    let f = forwarding(&pool, "").await;
    f.idp.set_refresh_reuse_detection(true);
    let users = [f.log_in().await, f.log_in().await];
    let base = f.app.address.clone();
    f.make_due().await;
    f.idp.set_token_delay(Duration::from_secs(10));

    // Act: both users call during the hang; the IdP comes back at 10 s.
    let during: Vec<u16> = join_all(
        users
            .iter()
            .enumerate()
            .map(|(i, (token, _))| call(&base, token, i as u32 + 1).send()),
    )
    .await
    .into_iter()
    .map(|r| r.unwrap().status().as_u16())
    .collect();
    for (_, grant) in &users {
        assert!(wait_for_version(&pool, *grant, 1, Duration::from_secs(15)).await);
    }
    f.idp.set_token_delay(Duration::ZERO);
    let after: Vec<u16> = join_all(
        users
            .iter()
            .enumerate()
            .map(|(i, (token, _))| call(&base, token, i as u32 + 10).send()),
    )
    .await
    .into_iter()
    .map(|r| r.unwrap().status().as_u16())
    .collect();

    // Assert: during the hang a client sees success or 503 (never 401); afterwards both work,
    // each grant was refreshed exactly once and none was lost.
    assert!(during.iter().all(|s| *s == 200 || *s == 503), "{during:?}");
    assert_eq!(after, vec![200, 200]);
    assert_eq!(f.idp.counters().token_refresh, 2);
    for (_, grant) in &users {
        assert_eq!(grant_state(&pool, *grant).await, ("active".into(), 2));
    }
}
