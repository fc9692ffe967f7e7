//! IdP trouble: transient failures are retried (bounded) and never end a grant; only
//! `invalid_grant` does. One slow IdP holds up nobody else.

use std::time::Duration;

use mcp_auth_bridge::upstream::refresh::{Busy, RefreshError};
use sqlx::PgPool;

use super::support::{
    keycloak_tenant, later, log_in, logged_in, quick_policy, quick_refresher, status_and_version,
    stored_refresh_token,
};
use crate::{
    app_support::{spawn_app, test_config},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

#[sqlx::test]
async fn an_idp_slower_than_the_call_timeout_is_asked_once_and_the_grant_is_untouched(
    pool: PgPool,
) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    let before = stored_refresh_token(&t.app, t.grant_id).await;
    t.idp.set_token_delay(Duration::from_secs(5));

    let result = quick_refresher(&t.app)
        .access_token(t.grant_id, later())
        .await;

    assert!(
        matches!(result, Err(RefreshError::Unavailable { .. })),
        "{result:?}"
    );
    assert_eq!(
        t.idp.counters().token_refresh,
        1,
        "a request the IdP may have processed is not sent again"
    );
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 1)
    );
    assert_eq!(stored_refresh_token(&t.app, t.grant_id).await, before);
}

#[sqlx::test]
async fn a_503_then_success_is_retried_and_succeeds(pool: PgPool) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.fail_next_token_requests(1, 503);

    let access = quick_refresher(&t.app)
        .access_token(t.grant_id, later())
        .await;

    assert!(access.is_ok(), "{access:?}");
    assert_eq!(t.idp.counters().token_refresh, 2);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 2)
    );
}

#[sqlx::test]
async fn a_500_is_not_retried_with_the_same_refresh_token(pool: PgPool) {
    // A 500 may come after the IdP processed the request and spent the refresh token.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.fail_next_token_requests(1, 500);

    let access = quick_refresher(&t.app)
        .access_token(t.grant_id, later())
        .await;

    assert!(
        matches!(access, Err(RefreshError::Unavailable { .. })),
        "{access:?}"
    );
    assert_eq!(t.idp.counters().token_refresh, 1);
    let ambiguous: bool =
        sqlx::query_scalar("SELECT refresh_ambiguous_at IS NOT NULL FROM grants WHERE id = $1")
            .bind(t.grant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        ambiguous,
        "the grant remembers the attempt may have been processed"
    );
}

#[sqlx::test]
async fn a_429_is_retried_after_its_retry_after(pool: PgPool) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.fail_next_token_requests(1, 429);

    let access = quick_refresher(&t.app)
        .access_token(t.grant_id, later())
        .await;

    assert!(access.is_ok(), "{access:?}");
    assert_eq!(t.idp.counters().token_refresh, 2);
}

#[sqlx::test]
async fn an_idp_failing_for_good_is_unavailable_and_the_grant_survives_until_it_heals(
    pool: PgPool,
) {
    // Arrange
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    let before = stored_refresh_token(&t.app, t.grant_id).await;
    t.idp.fail_token_requests_forever(503);
    let refresher = quick_refresher(&t.app);

    // Act
    let failed = refresher.access_token(t.grant_id, later()).await;

    // Assert: three attempts, then "try later"; nothing about the grant changed.
    assert!(
        matches!(failed, Err(RefreshError::Unavailable { .. })),
        "{failed:?}"
    );
    assert_eq!(t.idp.counters().token_refresh, 3);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 1)
    );
    assert_eq!(stored_refresh_token(&t.app, t.grant_id).await, before);

    // Once the IdP heals, the same grant refreshes.
    t.idp.heal();
    let healed = refresher.access_token(t.grant_id, later()).await;
    assert!(healed.is_ok(), "{healed:?}");
    assert_eq!(t.idp.counters().token_refresh, 4);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 2)
    );
}

#[sqlx::test]
async fn invalid_grant_marks_the_grant_needs_reauth_and_later_callers_do_not_ask_again(
    pool: PgPool,
) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.invalid_grant_on_next_refresh();
    let refresher = quick_refresher(&t.app);

    let first = refresher.access_token(t.grant_id, later()).await;
    let second = refresher.access_token(t.grant_id, later()).await;

    assert!(matches!(first, Err(RefreshError::NeedsReauth)), "{first:?}");
    assert!(
        matches!(second, Err(RefreshError::NeedsReauth)),
        "{second:?}"
    );
    assert_eq!(
        t.idp.counters().token_refresh,
        1,
        "invalid_grant is not retried"
    );
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("needs_reauth".into(), 2)
    );
}

#[sqlx::test]
async fn a_slow_idp_for_one_grant_does_not_delay_another_grants_refresh(pool: PgPool) {
    // Arrange: two tenants, each with its own IdP; one IdP hangs for seconds.
    let slow = FakeIdp::start(FakeIdpOptions::default()).await;
    let fast = FakeIdp::start(FakeIdpOptions::default()).await;
    let config = keycloak_tenant("slow", &slow) + &keycloak_tenant("fast", &fast);
    let app = spawn_app(pool, test_config(&config)).await;
    let slow_grant = log_in(&app, "slow").await;
    let fast_grant = log_in(&app, "fast").await;
    slow.set_token_delay(Duration::from_secs(3));
    let refresher = app.state.refresher.clone();
    let now = later();

    // Act: the slow refresh starts first and is in flight at the IdP.
    let slow_call = {
        let refresher = refresher.clone();
        tokio::spawn(async move { refresher.access_token(slow_grant, now).await })
    };
    for _ in 0..100 {
        if slow.counters().token_refresh == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fast_result = refresher.access_token(fast_grant, now).await;

    // Assert: the fast grant is done while the slow one still waits for its IdP.
    assert!(fast_result.is_ok(), "{fast_result:?}");
    assert_eq!(fast.counters().token_refresh, 1);
    assert!(
        !slow_call.is_finished(),
        "the slow refresh is still in flight"
    );
    assert!(slow_call.await.unwrap().is_ok());
}

#[sqlx::test]
async fn without_a_refresh_token_a_live_token_is_used_and_a_dead_one_is_not_refreshable(
    pool: PgPool,
) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    sqlx::query(
        "UPDATE grants SET upstream_refresh_token = NULL, upstream_refresh_key_id = NULL
         WHERE id = $1",
    )
    .bind(t.grant_id)
    .execute(&pool)
    .await
    .unwrap();
    let refresher = &t.app.state.refresher;

    let live = refresher.access_token(t.grant_id, chrono::Utc::now()).await;
    let dead = refresher.access_token(t.grant_id, later()).await;
    let rejected = refresher
        .after_rejection(
            t.grant_id,
            live.as_ref().unwrap().token.expose(),
            chrono::Utc::now(),
        )
        .await;

    assert!(live.is_ok());
    assert!(
        matches!(dead, Err(RefreshError::NotRefreshable)),
        "{dead:?}"
    );
    assert!(
        matches!(rejected, Err(RefreshError::NotRefreshable)),
        "{rejected:?}"
    );
    assert_eq!(t.idp.counters().token_refresh, 0);
}

#[sqlx::test]
async fn a_token_without_expiry_is_used_as_it_is(pool: PgPool) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    sqlx::query("UPDATE grants SET upstream_access_expires_at = NULL WHERE id = $1")
        .bind(t.grant_id)
        .execute(&pool)
        .await
        .unwrap();

    let access = t
        .app
        .state
        .refresher
        .access_token(t.grant_id, later())
        .await;

    assert_eq!(access.unwrap().expires_at, None);
    assert_eq!(t.idp.counters().token_refresh, 0);
}

#[sqlx::test]
async fn a_revoked_grant_is_refused_without_calling_the_idp(pool: PgPool) {
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    sqlx::query("UPDATE grants SET status = 'revoked' WHERE id = $1")
        .bind(t.grant_id)
        .execute(&pool)
        .await
        .unwrap();

    let result = t
        .app
        .state
        .refresher
        .access_token(t.grant_id, later())
        .await;
    let unknown = t
        .app
        .state
        .refresher
        .access_token(uuid::Uuid::new_v4(), later())
        .await;

    assert!(matches!(result, Err(RefreshError::Revoked)), "{result:?}");
    assert!(matches!(unknown, Err(RefreshError::Revoked)), "{unknown:?}");
    assert_eq!(t.idp.counters().token_refresh, 0);
}

#[sqlx::test]
async fn a_refresh_whose_commit_fails_returns_an_error_not_the_unstored_token(pool: PgPool) {
    // Arrange: the database refuses to store new upstream tokens.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
         CREATE TRIGGER refuse BEFORE UPDATE OF upstream_access_token ON grants
             FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&pool)
    .await
    .unwrap();

    // Act
    let result = t
        .app
        .state
        .refresher
        .access_token(t.grant_id, later())
        .await;

    // Assert: the caller hears an error; the lease was given back.
    assert!(
        matches!(result, Err(RefreshError::Internal(_))),
        "{result:?}"
    );
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 1)
    );
    let lease: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT refresh_lease_owner FROM grants WHERE id = $1")
            .bind(t.grant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(lease, None);
}

#[sqlx::test]
async fn an_idp_refusing_the_bridges_client_credentials_does_not_end_the_grant(pool: PgPool) {
    // Arrange: after the login, the provider's stored client secret goes wrong.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    let (tenant_id, name): (uuid::Uuid, String) =
        sqlx::query_as("SELECT tenant_id, name FROM upstream_providers")
            .fetch_one(&pool)
            .await
            .unwrap();
    let aad = format!("provider:{tenant_id}:{name}:client_secret");
    let wrong = t.app.state.sealer.seal_str("not-the-secret", &aad);
    sqlx::query("UPDATE upstream_providers SET client_secret = $1, client_secret_key_id = $2")
        .bind(&wrong.blob)
        .bind(&wrong.key_id)
        .execute(&pool)
        .await
        .unwrap();

    // Act
    let result = quick_refresher(&t.app)
        .access_token(t.grant_id, later())
        .await;

    // Assert: a 401 invalid_client is our configuration, not the user's grant.
    assert!(
        matches!(result, Err(RefreshError::Internal(_))),
        "{result:?}"
    );
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 1)
    );
}

#[sqlx::test]
async fn a_grant_whose_refreshes_keep_failing_calls_the_idp_once_per_back_off_not_per_request(
    pool: PgPool,
) {
    // Arrange: the IdP fails every token request; the production policy (2 s back-off).
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.fail_token_requests_forever(500);
    let refresher = &t.app.state.refresher;

    // Act: one request fails at the IdP, then twenty more arrive at once.
    let first = refresher.access_token(t.grant_id, later()).await;
    let calls = t.idp.counters().token_refresh;
    let mut rest = Vec::new();
    for _ in 0..20 {
        rest.push(refresher.access_token(t.grant_id, later()).await);
    }

    // Assert: one IdP call (a 500 may have been processed: not retried); the others are told
    // to come back after the back-off, and the grant is untouched.
    assert!(
        matches!(first, Err(RefreshError::Unavailable { .. })),
        "{first:?}"
    );
    assert_eq!(calls, 1);
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert!(rest.iter().all(|r| matches!(
        r,
        Err(RefreshError::Busy { why: Busy::BackingOff, retry_after }) if *retry_after >= 1
    )));
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 1)
    );
}

#[sqlx::test]
async fn a_replica_outwaited_by_another_replicas_lease_says_so_not_that_the_upstream_is_unavailable(
    pool: PgPool,
) {
    // Arrange: another replica holds the lease and keeps it (a live holder, for longer than a
    // refresh may take); a policy whose longest refresh is short.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    sqlx::query(
        "UPDATE grants SET refresh_lease_owner = gen_random_uuid(),
             refresh_lease_until = now() + interval '1 hour' WHERE id = $1",
    )
    .bind(t.grant_id)
    .execute(&pool)
    .await
    .unwrap();
    let policy = mcp_auth_bridge::upstream::refresh::RefreshPolicy {
        budget: Duration::from_millis(500),
        lease: Duration::from_millis(500),
        ..quick_policy()
    };
    let refresher = t.app.state.refresher.clone().with_policy(policy);

    // Act
    let waited = refresher.access_token(t.grant_id, later()).await;

    // Assert: its own error and message; no IdP call; the metric has its own label.
    let Err(e) = waited else { panic!("{waited:?}") };
    assert!(
        matches!(
            e,
            RefreshError::Busy {
                why: Busy::LeaseWait,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("waiting for another replica"), "{e}");
    assert_eq!(t.idp.counters().token_refresh, 0);
    let metrics = t.app.state.metrics.render();
    assert!(
        metrics.contains("outcome=\"lease_wait_timeout\""),
        "{metrics}"
    );
}

#[sqlx::test]
async fn after_an_attempt_that_timed_out_the_same_refresh_token_waits_out_the_pause_then_is_sent_once(
    pool: PgPool,
) {
    // Arrange: an IdP slower than the call timeout (the request may have been processed), and a
    // pause after ambiguous attempts of one second.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    let policy = mcp_auth_bridge::upstream::refresh::RefreshPolicy {
        after_ambiguous: Duration::from_secs(1),
        ..quick_policy()
    };
    let refresher = t.app.state.refresher.clone().with_policy(policy);
    t.idp.set_token_delay(Duration::from_secs(2));

    // Act: the attempt times out; a caller right after; the IdP recovers; a caller after the
    // pause.
    let timed_out = refresher.access_token(t.grant_id, later()).await;
    let during_pause = refresher.access_token(t.grant_id, later()).await;
    let calls_during_pause = t.idp.counters().token_refresh;
    t.idp.set_token_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after_pause = refresher.access_token(t.grant_id, later()).await;

    // Assert: one call per attempt, none during the pause, and the grant refreshed after it.
    assert!(
        matches!(timed_out, Err(RefreshError::Unavailable { .. })),
        "{timed_out:?}"
    );
    assert!(
        matches!(
            during_pause,
            Err(RefreshError::Busy {
                why: Busy::BackingOff,
                ..
            })
        ),
        "{during_pause:?}"
    );
    assert_eq!(calls_during_pause, 1);
    assert!(after_pause.is_ok(), "{after_pause:?}");
    assert_eq!(t.idp.counters().token_refresh, 2);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 2)
    );
}
