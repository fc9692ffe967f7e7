//! Start-up against a database that accepts connections but never answers (black-holed): `serve`
//! retries, logging each attempt, and comes up once the database answers; it exits non-zero
//! with a clear line after `database.startup_timeout`; `migrate` fails after one bounded
//! attempt instead of hanging.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::support::{
    bridge_process::{BridgeProcess, database_url_for},
    fault_proxy::{Fault, FaultProxy},
};

/// A bridge on `database_url` with a 1 s acquire timeout and the given start-up budget.
fn config(port: u16, database_url: &str, startup_timeout: &str) -> String {
    format!(
        "public_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [database]\nurl = \"{database_url}\"\nacquire_timeout = \"1s\"\n\
         startup_timeout = \"{startup_timeout}\"\n\
         [crypto]\nactive_key = \"test\"\n[crypto.keys]\ntest = \"{}\"\n",
        crate::app_support::TEST_SEALING_KEY
    )
}

#[sqlx::test]
async fn serve_waits_for_a_black_holed_database_and_comes_up_once_it_answers(pool: PgPool) {
    // Arrange: the database accepts connections and never answers.
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let proxy = FaultProxy::in_front_of_postgres().await;
    proxy.set(Fault::BlackHole);
    let port = BridgeProcess::free_port();
    let url = database_url_for(&database, Some(proxy.port()));
    let mut bridge = BridgeProcess::spawn(port, &config(port, &url, "60s"), &[]);

    // Act: a few attempts time out.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(bridge.exit_status().is_none(), "{}", bridge.output());
    let output = bridge.output();
    assert!(
        output
            .matches("the database is not available yet; retrying")
            .count()
            >= 2,
        "each attempt is logged: {output}"
    );
    assert!(output.contains("did not answer within 1s"), "{output}");

    // Assert: the database answers again, and the bridge comes up.
    proxy.set(Fault::Pass);
    let back = Instant::now();
    assert!(
        bridge.wait_ready(Duration::from_secs(20)).await,
        "{}",
        bridge.output()
    );
    println!("ready {:?} after the database answered", back.elapsed());
}

#[sqlx::test]
async fn serve_against_a_database_that_never_answers_exits_non_zero_after_its_startup_timeout(
    pool: PgPool,
) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let proxy = FaultProxy::in_front_of_postgres().await;
    proxy.set(Fault::BlackHole);
    let port = BridgeProcess::free_port();
    let url = database_url_for(&database, Some(proxy.port()));
    let started = Instant::now();
    let mut bridge = BridgeProcess::spawn(port, &config(port, &url, "3s"), &[]);

    let status = bridge.wait_exit(Duration::from_secs(20)).await;

    let took = started.elapsed();
    let output = bridge.output();
    let status = status.unwrap_or_else(|| panic!("still running after {took:?}: {output}"));
    assert!(!status.success(), "{output}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );
    assert!(
        output.contains("still unavailable after database.startup_timeout; giving up"),
        "{output}"
    );
    assert!(output.contains("did not answer within 1s"), "{output}");
}

#[tokio::test]
async fn migrate_against_a_black_holed_database_fails_with_a_clear_message_instead_of_hanging() {
    let proxy = FaultProxy::in_front_of_postgres().await;
    proxy.set(Fault::BlackHole);
    let port = BridgeProcess::free_port();
    let url = database_url_for("mab_never_answers", Some(proxy.port()));
    let dir = std::env::temp_dir().join(format!("mab-migrate-bh-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bridge.toml");
    std::fs::write(&path, config(port, &url, "60s")).unwrap();
    let started = Instant::now();

    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth-bridge"))
        .args(["migrate", "--config"])
        .arg(&path)
        .env_remove("MCP_AUTH_BRIDGE_CONFIG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("migrate gave up by itself")
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mcp-auth-bridge: the database did not answer within 1s"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn serve_does_not_retry_what_only_the_operator_can_fix() {
    // A database that does not exist and may not be created: waiting will not help.
    let port = BridgeProcess::free_port();
    let url = database_url_for("mab_missing_and_not_created", None);
    let config =
        config(port, &url, "60s").replace("[crypto]", "create_if_missing = false\n[crypto]");
    let started = Instant::now();
    let mut bridge = BridgeProcess::spawn(port, &config, &[]);

    let status = bridge.wait_exit(Duration::from_secs(15)).await;

    let output = bridge.output();
    let status = status.unwrap_or_else(|| panic!("still retrying: {output}"));
    assert!(!status.success(), "{output}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!output.contains("retrying"), "{output}");
    assert!(output.contains("mab_missing_and_not_created"), "{output}");
}
