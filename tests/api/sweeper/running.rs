//! How the sweeper runs: bounded batches, one replica at a time, stopping on shutdown, and the
//! `sweep` command.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use mcp_auth_bridge::sweeper::{SweepOptions, Sweeper};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use super::fixture::{Fixture, SECOND, config, now, sweeper};

fn small_batches(batch_size: u32, max_batches_per_kind: u32) -> SweepOptions {
    SweepOptions {
        batch_size,
        max_batches_per_kind,
        ..SweepOptions::default()
    }
}

#[sqlx::test]
async fn expired_codes_are_deleted_in_batches_of_the_configured_size(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 1_050, now() - SECOND).await;
    let live = f.codes(g, 7, now() + SECOND).await;

    let report = sweeper(&pool)
        .with_options(small_batches(100, 1_000))
        .run_once(now())
        .await
        .unwrap();

    assert_eq!(report.deleted["authorization_codes"], 1_050);
    assert_eq!(
        report.batches["authorization_codes"], 11,
        "10 full batches and one of 50"
    );
    assert!(report.capped.is_empty() && !report.interrupted && !report.skipped);
    assert_eq!(f.count("authorization_codes").await, live.len() as i64);
}

#[sqlx::test]
async fn a_run_stops_at_the_batch_cap_and_the_next_run_continues(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 1_050, now()).await;
    let s = sweeper(&pool).with_options(small_batches(100, 3));

    let first = s.run_once(now()).await.unwrap();
    assert_eq!(first.deleted["authorization_codes"], 300);
    assert_eq!(first.capped, vec!["authorization_codes"]);
    assert_eq!(first.deleted["grants"], 0, "the grant still has codes");

    for _ in 0..3 {
        s.run_once(now()).await.unwrap();
    }
    assert_eq!(f.count("authorization_codes").await, 0);
}

#[sqlx::test]
async fn thousands_of_due_rows_go_and_every_live_row_stays(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 5_000, now() - Duration::minutes(5)).await;
    let live = f.codes(g, 500, now() + SECOND).await;

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert_eq!(report.deleted["authorization_codes"], 5_000);
    assert_eq!(report.batches["authorization_codes"], 6);
    assert_eq!(f.count("authorization_codes").await, 500);
    for h in live.iter().step_by(50) {
        assert!(f.exists("authorization_codes", "code_hash", h).await);
    }
}

#[sqlx::test]
async fn a_sweeper_skips_its_round_while_another_holds_the_lock(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 10, now()).await;
    // Another replica, sweeping: it holds the lock on its own session.
    let mut other = PgConnection::connect_with(&pool.connect_options())
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(mcp_auth_bridge::store::sweeper::ADVISORY_LOCK_KEY)
        .execute(&mut other)
        .await
        .unwrap();

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert!(report.skipped);
    assert_eq!(report.total_deleted(), 0);
    assert_eq!(f.count("authorization_codes").await, 10);
    assert_eq!(
        f.count("sweeper_runs").await,
        0,
        "a skipped round is not a run"
    );

    // The other replica finishes (its session ends): the next round sweeps.
    other.close().await.unwrap();
    let report = sweeper(&pool).run_once(now()).await.unwrap();
    assert!(!report.skipped);
    assert_eq!(report.deleted["authorization_codes"], 10);
}

#[sqlx::test]
async fn a_sweep_releases_its_lock_so_the_next_one_runs(pool: PgPool) {
    let s = sweeper(&pool);
    assert!(!s.run_once(now()).await.unwrap().skipped);
    assert!(!s.run_once(now()).await.unwrap().skipped);
    assert!(!sweeper(&pool).run_once(now()).await.unwrap().skipped);
}

#[sqlx::test]
async fn a_sweep_stops_between_batches_when_shutdown_is_signalled(pool: PgPool) {
    // Arrange: codes go first, then pending authorizations, which the test blocks with a table
    // lock so the sweep is provably inside its first pending batch when shutdown comes.
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 120, now()).await;
    for _ in 0..250 {
        f.pending(f.client, now()).await;
    }
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE pending_authorizations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let s = sweeper(&pool).with_options(small_batches(100, 1_000));
    let sweep = tokio::spawn(async move { s.run_until(now(), &shutdown).await });

    // Act: wait (bounded) until the sweep waits for the table, signal shutdown, let it go on.
    let mut waited = false;
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks
             WHERE relation = 'pending_authorizations'::regclass AND NOT granted",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert!(waited, "the sweep never reached pending_authorizations");
    stop.send(true).unwrap();
    blocker.rollback().await.unwrap();
    let report = sweep.await.unwrap().unwrap();

    // Assert: the batch in flight finished, nothing after it ran.
    assert!(report.interrupted);
    assert_eq!(report.deleted["authorization_codes"], 120);
    assert_eq!(report.deleted["pending_authorizations"], 100);
    assert_eq!(report.batches["pending_authorizations"], 1);
    assert!(!report.deleted.contains_key("access_tokens"));
    assert_eq!(f.count("pending_authorizations").await, 150);
}

#[sqlx::test]
async fn spawn_sweeps_at_start_up_and_returns_when_shutdown_is_signalled(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(Utc::now()).await;
    f.codes(g, 5, Utc::now() - SECOND).await;
    let (stop, shutdown) = watch::channel(false);
    let task = Sweeper::new(pool.clone(), &config()).spawn(shutdown);

    let mut swept = false;
    for _ in 0..200 {
        if f.count("authorization_codes").await == 0 {
            swept = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert!(swept, "no sweep at start-up");
    stop.send(true).unwrap();
    tokio::time::timeout(StdDuration::from_secs(5), task)
        .await
        .expect("the task ends on shutdown")
        .unwrap();
}

#[sqlx::test]
async fn a_zero_cleanup_interval_disables_the_sweeper(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(Utc::now()).await;
    f.codes(g, 5, Utc::now() - SECOND).await;
    let config = crate::app_support::test_config("[auth]\ncleanup_interval = \"0s\"\n");
    let (_stop, shutdown) = watch::channel(false);

    let task = Sweeper::new(pool.clone(), &config).spawn(shutdown);

    tokio::time::timeout(StdDuration::from_secs(5), task)
        .await
        .expect("a disabled sweeper ends at once")
        .unwrap();
    assert_eq!(f.count("authorization_codes").await, 5);
}

#[sqlx::test]
async fn the_sweep_command_runs_one_sweep_and_prints_only_its_report_as_json_on_stdout(
    pool: PgPool,
) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(Utc::now()).await;
    f.codes(g, 4, Utc::now() - SECOND).await;
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let dir = std::env::temp_dir().join(format!("mab-sweep-{database}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sweep.toml");
    std::fs::write(
        &path,
        format!(
            "public_url = \"http://127.0.0.1:1\"\n[database]\nurl = \"{}\"\n\
             [crypto]\nactive_key = \"test\"\n[crypto.keys]\ntest = \"{}\"\n",
            crate::support::bridge_process::database_url_for(&database, None),
            crate::app_support::TEST_SEALING_KEY
        ),
    )
    .unwrap();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth-bridge"))
        .args(["sweep", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the report on stdout, even with logging on: log lines go to stderr.
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(!out.stderr.is_empty(), "RUST_LOG=info logs something");
    assert_eq!(report["skipped"], false);
    assert_eq!(report["deleted"]["authorization_codes"], 4);
    assert!(report["duration_seconds"].is_f64());
    assert_eq!(f.count("authorization_codes").await, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
