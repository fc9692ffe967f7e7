//! Two processes started together on a database that does not exist yet — two `migrate`, or two
//! replicas of `serve` — race to `CREATE DATABASE` (the loser sees 42P04 or 23505) and to
//! migrate (serialised by sqlx's advisory lock): both must succeed.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::support::{
    bridge_process::{BridgeProcess, database_url_for},
    fault_proxy::database_url,
};

fn config(port: u16, database: &str) -> String {
    format!(
        "public_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [database]\nurl = \"{}\"\n\
         [crypto]\nactive_key = \"test\"\n[crypto.keys]\ntest = \"{}\"\n\
         [[tenants]]\nslug = \"acme\"\n",
        database_url_for(database, None),
        crate::app_support::TEST_SEALING_KEY
    )
}

fn fresh_name() -> String {
    format!("mab_fresh_{}", uuid::Uuid::new_v4().simple())
}

/// Drops the databases the test created (they are not `#[sqlx::test]`'s to clean up).
async fn drop_databases(names: &[String]) {
    let mut conn = PgConnection::connect(&database_url()).await.unwrap();
    for name in names {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

async fn migrate(config_toml: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("mab-migrate-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bridge.toml");
    std::fs::write(&path, config_toml).unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth-bridge"))
        .args(["migrate", "--config"])
        .arg(&path)
        .env_remove("MCP_AUTH_BRIDGE_CONFIG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("migrate finished")
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[tokio::test]
async fn two_migrate_commands_started_together_on_a_fresh_database_both_succeed() {
    let mut names = Vec::new();
    for _ in 0..4 {
        let name = fresh_name();
        names.push(name.clone());
        let config = config(BridgeProcess::free_port(), &name);
        let (a, b) = tokio::join!(migrate(&config), migrate(&config));
        for out in [a, b] {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    drop_databases(&names).await;
}

#[tokio::test]
async fn two_replicas_started_together_on_a_fresh_database_both_come_up() {
    let mut names = Vec::new();
    for _ in 0..2 {
        let name = fresh_name();
        names.push(name.clone());
        let (pa, pb) = (BridgeProcess::free_port(), BridgeProcess::free_port());
        let mut a = BridgeProcess::spawn(pa, &config(pa, &name), &[]);
        let mut b = BridgeProcess::spawn(pb, &config(pb, &name), &[]);
        let (ready_a, ready_b) = tokio::join!(
            a.wait_ready(Duration::from_secs(30)),
            b.wait_ready(Duration::from_secs(30))
        );
        assert!(ready_a, "replica A: {}", a.output());
        assert!(ready_b, "replica B: {}", b.output());
        a.kill9();
        b.kill9();
    }
    drop_databases(&names).await;
}
