//! A revocation is effective on every replica even when no separate NOTIFY can be sent after it
//! commits: its cache event is part of the revoking transaction, which Postgres delivers exactly
//! when the transaction commits. The fault: every NOTIFY outside a writing transaction fails (a
//! `pg_notify` shadowing the built-in one, picked first by the database's `search_path`), as the
//! old post-commit publish would on a connection that broke right after the commit.

use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection, PgPool};

use crate::{
    admin::{ROOT, admin_tokens},
    gateway::setup,
    replicas::{ping, second_replica},
    revocation_feed::{latest_grant, time_to_refusal, wait_for_listeners},
};

/// Installs the fault, then ends every other session of the database so the pool reconnects
/// with the new `search_path` (existing sessions keep the one they started with).
async fn break_notify_outside_transactions(pool: &PgPool) {
    let mut conn = PgConnection::connect_with(&pool.connect_options())
        .await
        .unwrap();
    sqlx::raw_sql(
        r#"
        CREATE SCHEMA notify_fault;
        CREATE FUNCTION notify_fault.pg_notify(channel text, payload text) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            IF txid_current_if_assigned() IS NULL THEN
                RAISE EXCEPTION 'test fault: NOTIFY outside a writing transaction is lost';
            END IF;
            PERFORM pg_catalog.pg_notify(channel, payload);
        END $$;
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET search_path = public, notify_fault, pg_catalog',
                           current_database());
        END $$;
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid();
        "#,
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    // The fault is in place for new sessions: a NOTIFY of its own fails.
    let standalone = sqlx::query("SELECT pg_notify('mab_cache', '{\"event\":\"flush_all\"}')")
        .execute(pool)
        .await;
    assert!(standalone.is_err(), "the fault is not in place");
}

/// Makes `b` hold a state for `token` older than the short TTL: from then on only an event makes
/// it re-read the token's state (its listener is up).
async fn hold_a_long_lived_state(b: &crate::app_support::TestApp, token: &str) {
    assert_eq!(ping(b, token).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(ping(b, token).send().await.unwrap().status(), 200);
}

#[sqlx::test]
async fn revocations_reach_the_other_replica_when_no_notify_can_be_sent_after_the_commit(
    pool: PgPool,
) {
    break_notify_outside_transactions(&pool).await;
    let s = setup(&pool, &admin_tokens()).await;
    let b = second_replica(&s, &pool).await;
    wait_for_listeners(&pool, 2).await;

    // An access token revoked at `/revoke` (RFC 7009) on A.
    let token = s.token("demo", "mcp").await;
    hold_a_long_lived_state(&b, &token).await;
    let revoked_at = Instant::now();
    let r = s
        .app
        .http
        .post(s.app.url("/t/acme/revoke"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", s.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let delay = time_to_refusal(&b, &token, revoked_at, Duration::from_secs(3)).await;
    assert!(delay < Duration::from_millis(500), "{delay:?}");

    // A grant revoked through the admin API on A.
    let token = s.token("demo", "mcp").await;
    let grant = latest_grant(&pool).await;
    hold_a_long_lived_state(&b, &token).await;
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
    assert!(delay < Duration::from_millis(500), "{delay:?}");
}
