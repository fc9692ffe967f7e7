//! The remote token refreshed: once for a burst across two replicas, once after a 401 with the
//! request replayed, and `invalid_grant` asks the user again.

use std::time::Duration;

use futures_util::future::join_all;
use sqlx::PgPool;

use super::support::{connected_user, elicited_url, setup};
use crate::app_support::{spawn_replica, test_config};

#[sqlx::test]
async fn fifty_concurrent_calls_after_expiry_across_two_replicas_refresh_once(pool: PgPool) {
    let s = setup(&pool).await;
    // Tokens issued at connect expire within the bridge's refresh skew (60 s); the refreshed
    // one does not.
    s.remote.set_access_token_ttl(Duration::from_secs(30));
    let user = connected_user(&s).await;
    s.remote.set_access_token_ttl(Duration::from_secs(3600));
    s.remote.set_refresh_delay(Duration::from_millis(300));
    let config = test_config(&super::support::config_toml(&s.idp, &s.remote));
    let replica = spawn_replica(pool.clone(), &s.app.address, config).await;

    let calls = (0..50u64).map(|i| {
        let app = if i % 2 == 0 { &s.app } else { &replica };
        s.whoami_on(app, &user.token, 100 + i)
    });
    let answers = tokio::time::timeout(Duration::from_secs(30), join_all(calls))
        .await
        .expect("the burst ends");

    for a in &answers {
        assert_eq!(
            a["result"]["structuredContent"]["user"], "remote-alice",
            "{a}"
        );
    }
    let counters = s.remote.counters();
    eprintln!(
        "remote refreshes for 50 concurrent calls on 2 replicas: {}",
        counters.token_refresh
    );
    assert_eq!(counters.token_refresh, 1, "one refresh for the whole burst");
    assert_eq!(counters.refresh_reuse, 0, "no refresh token sent twice");
    assert_eq!(counters.mcp_ok, 50);
}

#[sqlx::test]
async fn a_remote_401_refreshes_once_and_replays_the_request(pool: PgPool) {
    let s = setup(&pool).await;
    let user = connected_user(&s).await;
    s.remote.expire_all_access_tokens();

    let me = s.whoami(&user.token, 7).await;

    assert_eq!(me["id"], 7);
    assert_eq!(me["result"]["structuredContent"]["user"], "remote-alice");
    let counters = s.remote.counters();
    assert_eq!(
        counters.mcp_unauthorized, 1,
        "the first attempt was refused"
    );
    assert_eq!(counters.token_refresh, 1);
    assert_eq!(counters.mcp_ok, 1, "the replay went through");
    let again = s.whoami(&user.token, 8).await;
    assert_eq!(again["result"]["structuredContent"]["user"], "remote-alice");
    assert_eq!(
        s.remote.counters().token_refresh,
        1,
        "the new token is kept"
    );
}

#[sqlx::test]
async fn invalid_grant_at_the_remote_elicits_again(pool: PgPool) {
    let s = setup(&pool).await;
    let user = connected_user(&s).await;
    s.remote.expire_all_access_tokens();
    s.remote.revoke_all_refresh_tokens();

    let answer = s.whoami(&user.token, 9).await;

    let url = elicited_url(&answer);
    assert_eq!(answer["id"], 9);
    let status: String = sqlx::query_scalar("SELECT status FROM remote_connections")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "needs_reconnect");
    // Connecting again makes calls work again.
    let done = super::support::connect_in(&user.flow.browser, &url).await;
    assert_eq!(done.status(), 200);
    let me = s.whoami(&user.token, 10).await;
    assert_eq!(me["result"]["structuredContent"]["user"], "remote-alice");
}
