//! Token states are trusted for minutes while the revocation feed (the cache-coherence
//! listener's LISTEN connection) is up, and for the short TTL (1 s) otherwise: a revocation on
//! one replica still reaches another at once, a revocation the feed missed (its connection cut)
//! is seen within the short TTL, and after the reconnect events work again.

use std::time::{Duration, Instant};

use mcp_auth_bridge::coherence;
use sqlx::PgPool;

use crate::{
    admin::{ROOT, admin_tokens},
    gateway::setup,
    replicas::{ping, second_replica},
};

/// Both replicas' listeners have subscribed (bounded wait).
pub(crate) async fn wait_for_listeners(pool: &PgPool, wanted: i64) {
    let mut listening = 0;
    for _ in 0..100 {
        listening = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if listening == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{listening} listeners subscribed, wanted {wanted}");
}

/// Polls `app` until it refuses `token` (every 10 ms, at most `limit`); how long that took.
pub(crate) async fn time_to_refusal(
    app: &crate::app_support::TestApp,
    token: &str,
    since: Instant,
    limit: Duration,
) -> Duration {
    while since.elapsed() < limit {
        if ping(app, token).send().await.unwrap().status() == 401 {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the revoked token was still accepted after {limit:?}");
}

pub(crate) async fn latest_grant(pool: &PgPool) -> uuid::Uuid {
    sqlx::query_scalar("SELECT id FROM grants ORDER BY created_at DESC LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_grant_revoked_through_the_admin_api_is_refused_by_another_replica_holding_a_long_lived_state(
    pool: PgPool,
) {
    let s = setup(&pool, &admin_tokens()).await;
    let b = second_replica(&s, &pool).await;
    wait_for_listeners(&pool, 2).await;
    let token = s.token("demo", "mcp").await;
    let grant = latest_grant(&pool).await;
    assert_eq!(ping(&b, &token).send().await.unwrap().status(), 200);
    // Older than the short TTL: B trusts its cached state only because its listener is up.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(ping(&b, &token).send().await.unwrap().status(), 200);

    let revoked_at = Instant::now();
    let r = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/admin/v1/tenants/acme/grants/{grant}/revoke")),
        )
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let delay = time_to_refusal(&b, &token, revoked_at, Duration::from_secs(3)).await;
    println!("cross-replica revocation delay with the long TTL: {delay:?}");
    // Pushed, not waited out: far under any TTL.
    assert!(delay < Duration::from_millis(500), "{delay:?}");
}

#[sqlx::test]
async fn with_the_listener_cut_a_missed_revocation_is_seen_within_the_short_ttl_and_events_work_after_the_reconnect(
    pool: PgPool,
) {
    let s = setup(&pool, "").await;
    let b = second_replica(&s, &pool).await;
    wait_for_listeners(&pool, 2).await;
    let token = s.token("demo", "mcp").await;
    assert_eq!(ping(&b, &token).send().await.unwrap().status(), 200);

    // A revocation that sends no event (as if its NOTIFY were lost), then the listeners' backends
    // are killed: what B holds was read before the cut and may miss events from now on.
    sqlx::query("UPDATE access_tokens SET revoked_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let cut_at = Instant::now();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%') t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 2);
    let delay = time_to_refusal(&b, &token, cut_at, Duration::from_secs(3)).await;
    println!("missed revocation refused {delay:?} after the listener was cut");
    // The short TTL (1 s) from B's read, plus the time the listener takes to notice the cut.
    assert!(delay < Duration::from_millis(1_500), "{delay:?}");

    // Reconnected: a new token's revocation on A reaches B by event again.
    wait_for_listeners(&pool, 2).await;
    let second = s.token("demo", "mcp").await;
    assert_eq!(ping(&b, &second).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let revoked_at = Instant::now();
    let r = s
        .app
        .http
        .post(s.app.url("/t/acme/revoke"))
        .form(&[
            ("token", second.as_str()),
            ("client_id", s.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let delay = time_to_refusal(&b, &second, revoked_at, Duration::from_secs(3)).await;
    assert!(delay < Duration::from_millis(500), "{delay:?}");
}

#[sqlx::test]
async fn with_the_listener_up_a_state_is_reused_past_the_short_ttl(pool: PgPool) {
    let s = setup(&pool, "").await;
    wait_for_listeners(&pool, 1).await;
    let token = s.token("demo", "mcp").await;
    assert_eq!(ping(&s.app, &token).send().await.unwrap().status(), 200);
    // A change no event announces is not read back within the long TTL: the state was
    // reused, not re-read (this is what spares the database; events are what revoke).
    sqlx::query("UPDATE access_tokens SET revoked_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(ping(&s.app, &token).send().await.unwrap().status(), 200);
    // The same change with its event is refused at once.
    coherence::publish(&s.app.state.caches, coherence::CacheEvent::TokensRevoked).await;
    assert_eq!(ping(&s.app, &token).send().await.unwrap().status(), 401);
}
