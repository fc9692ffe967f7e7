//! The IdP's userinfo failing: one transient failure during a burst of cold requests is retried
//! (not shared with every waiter), and while userinfo keeps failing after the cache TTL the last
//! user context is served for `auth.stale_if_error`, then 503 with `Retry-After`.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use sqlx::PgPool;

use crate::gateway::{Setup, setup};

fn initialize(s: &Setup, token: &str, id: u32) -> reqwest::RequestBuilder {
    s.post("demo", token, None, json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
}

#[sqlx::test]
async fn one_userinfo_503_during_a_burst_of_twenty_cold_requests_fails_none_of_them(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let before = s.idp.counters().userinfo;

    // 1. The IdP's next userinfo answer is a 503.
    s.idp.fail_next_userinfo_requests(1, 503);

    // 2. Twenty cold requests for the same grant at once.
    let requests = (0..20).map(|i| initialize(&s, &token, i).send());
    let statuses: Vec<u16> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();

    // 3. All succeed: the one load retried once, and every waiter got its result.
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        s.idp.counters().userinfo - before,
        2,
        "one failed call, one retry"
    );
}

#[sqlx::test]
async fn while_userinfo_fails_the_last_user_context_is_served_until_stale_if_error_ends(
    pool: PgPool,
) {
    let s = setup(
        &pool,
        "\n[auth]\ncache_ttl = \"1s\"\nstale_if_error = \"3s\"\n",
    )
    .await;
    let token = s.token("demo", "mcp").await;

    // 1. A request loads the user context (at t0).
    let loaded = Instant::now();
    assert_eq!(
        initialize(&s, &token, 1).send().await.unwrap().status(),
        200
    );

    // 2. The IdP's userinfo fails from now on; the cached context expires.
    s.idp.fail_userinfo_requests_forever(503);
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // 3. Within stale_if_error the last context is served: the requests succeed.
    for id in 2..4 {
        let r = initialize(&s, &token, id).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    assert!(
        loaded.elapsed() < Duration::from_secs(4),
        "still within the window"
    );

    // 4. After cache_ttl + stale_if_error: 503 with Retry-After, not a stale answer.
    tokio::time::sleep(
        Duration::from_secs(4).saturating_sub(loaded.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let r = initialize(&s, &token, 4).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));

    // 5. The IdP heals: the next request loads a fresh context.
    s.idp.heal_userinfo();
    assert_eq!(
        initialize(&s, &token, 5).send().await.unwrap().status(),
        200
    );
}
