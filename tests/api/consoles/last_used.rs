//! "Last used" of grants: shown on the account page, written at most once per grant per
//! `gateway.last_used_interval` however many requests (or replicas) race.

use chrono::Utc;
use sqlx::PgPool;

use super::support::insert_grant;
use crate::{admin::admin_tokens, gateway::setup};

#[sqlx::test]
async fn racing_marks_write_a_grant_once_per_interval(pool: PgPool) {
    let _s = setup(&pool, &admin_tokens()).await;
    let grant = insert_grant(&pool, "acme", "user-1").await;
    let now = Utc::now();
    let marks = (0..16).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            mcp_auth_bridge::store::grant_usage::mark_used(&pool, grant, now, 60)
                .await
                .unwrap()
        })
    });
    let written = futures_util::future::join_all(marks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(written, 1);
    // Within the interval nothing more; after it, once more.
    let soon = now + chrono::Duration::seconds(30);
    assert!(
        !mcp_auth_bridge::store::grant_usage::mark_used(&pool, grant, soon, 60)
            .await
            .unwrap()
    );
    let later = now + chrono::Duration::seconds(61);
    assert!(
        mcp_auth_bridge::store::grant_usage::mark_used(&pool, grant, later, 60)
            .await
            .unwrap()
    );
}

#[sqlx::test]
async fn gateway_requests_mark_the_grant_used_once_per_interval(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let token = s.token("demo", "mcp").await;
    let ping = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let first = s
        .post("demo", &token, None, ping.clone())
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success() || first.status().is_client_error());
    let read = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<Utc>>>("SELECT last_used_at FROM grants")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    // The write is in the background: wait for it, bounded.
    let mut marked = None;
    for _ in 0..50 {
        marked = read().await;
        if marked.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let marked = marked.expect("the grant was marked used");
    let requests = (0..10).map(|_| s.post("demo", &token, None, ping.clone()).send());
    futures_util::future::join_all(requests).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        read().await,
        Some(marked),
        "no second write within the interval"
    );
}

#[sqlx::test]
async fn a_burst_of_rarely_seen_grants_is_marked_in_one_statement(pool: PgPool) {
    let _s = setup(&pool, &admin_tokens()).await;
    let mut grants = Vec::new();
    for i in 0..20 {
        grants.push(insert_grant(&pool, "acme", &format!("user-{i}")).await);
    }
    let last_used = mcp_auth_bridge::gateway::last_used::LastUsed::new(
        std::time::Duration::from_secs(60),
        1_000,
    );
    futures_util::future::join_all(grants.iter().map(|g| last_used.note(&pool, *g))).await;
    let marks = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<Utc>>>(
            "SELECT last_used_at FROM grants WHERE id = ANY($1)",
        )
        .bind(&grants)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    // The batch is written when its window closes: wait for it, bounded.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = marks().await;
        if seen.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen.len(), 20);
    assert!(
        seen.iter().all(Option::is_some),
        "every grant marked: {seen:?}"
    );
    // One statement: one `now` for all of them.
    seen.dedup();
    assert_eq!(seen.len(), 1, "one write for the burst: {seen:?}");
}
