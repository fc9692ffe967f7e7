//! Two replicas (two applications with their own caches and coordinators, one database) race
//! to refresh one grant: the Postgres lease lets one call the IdP, the other reads its result.

use std::time::Duration;

use futures_util::future::join_all;
use mcp_auth_bridge::startup::DatabaseSetup;
use sqlx::PgPool;

use super::support::{keycloak_tenant, later, logged_in, status_and_version, stored_refresh_token};
use crate::app_support::{spawn_app_with, test_config};

#[sqlx::test]
async fn two_replicas_racing_on_one_grant_cause_one_refresh_and_store_the_rotated_token(
    pool: PgPool,
) {
    // Arrange: replica A did the login; replica B shares only the database.
    let t = logged_in(pool.clone(), Default::default()).await;
    let config = test_config(&keycloak_tenant("acme", &t.idp));
    let b = spawn_app_with(pool.clone(), config, DatabaseSetup::AsIs).await;
    t.idp.set_token_delay(Duration::from_millis(300));
    let now = later();

    // Act: 20 callers on each replica at once.
    let calls = [t.app.state.refresher.clone(), b.state.refresher.clone()]
        .into_iter()
        .flat_map(|r| std::iter::repeat_n(r, 20))
        .map(|refresher| {
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
    let stored = stored_refresh_token(&t.app, t.grant_id).await;
    assert!(stored.is_some());
    assert_eq!(stored, t.idp.current_refresh_token());
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 2)
    );
    let lease: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT refresh_lease_owner FROM grants WHERE id = $1")
            .bind(t.grant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(lease, None, "the lease was given back with the commit");
}

#[sqlx::test]
async fn a_lease_left_by_a_crashed_replica_blocks_only_until_it_expires(pool: PgPool) {
    // Arrange: someone took the lease and vanished; it expires in a moment.
    let t = logged_in(pool.clone(), Default::default()).await;
    sqlx::query(
        "UPDATE grants SET refresh_lease_owner = gen_random_uuid(),
             refresh_lease_until = now() + interval '300 milliseconds' WHERE id = $1",
    )
    .bind(t.grant_id)
    .execute(&pool)
    .await
    .unwrap();

    // Act
    let access = t
        .app
        .state
        .refresher
        .access_token(t.grant_id, later())
        .await;

    // Assert
    assert!(access.is_ok(), "{access:?}");
    assert_eq!(t.idp.counters().token_refresh, 1);
}

#[sqlx::test]
async fn a_live_holder_slower_than_its_lease_keeps_it_by_renewing_and_the_token_is_sent_once(
    pool: PgPool,
) {
    // Arrange: two coordinators with their own flights (two replicas), a one-second lease, an
    // IdP that takes two and a half seconds.
    let t = logged_in(pool.clone(), Default::default()).await;
    let policy = mcp_auth_bridge::upstream::refresh::RefreshPolicy {
        lease: Duration::from_secs(1),
        ..mcp_auth_bridge::upstream::refresh::RefreshPolicy::default()
    };
    let a = t.app.state.refresher.clone().with_policy(policy.clone());
    let b = t.app.state.refresher.clone().with_policy(policy);
    t.idp.set_token_delay(Duration::from_millis(2500));
    let now = later();

    // Act: A's refresh is at the IdP; B asks for the same grant.
    let on_a = tokio::spawn(async move { a.access_token(t.grant_id, now).await });
    for _ in 0..100 {
        if t.idp.counters().token_refresh == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let on_b = b.access_token(t.grant_id, now).await;

    // Assert: B waited for A's renewed lease instead of re-sending the token after one second.
    let on_a = on_a.await.unwrap();
    assert!(on_a.is_ok() && on_b.is_ok(), "{on_a:?} {on_b:?}");
    assert_eq!(t.idp.counters().token_refresh, 1);
    assert_eq!(on_b.unwrap().version, 2);
}
