//! The fault proxy itself does what the fault tests rely on, against the real Postgres.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::support::{
    bridge_process::database_url_for,
    fault_proxy::{Fault, FaultProxy},
};

async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(url))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
}

#[tokio::test]
async fn the_fault_proxy_passes_refuses_black_holes_and_delays_postgres_traffic() {
    let proxy = FaultProxy::in_front_of_postgres().await;
    let url = database_url_for("postgres", Some(proxy.port()));

    // Pass: a query goes through.
    let mut conn = connect(&url).await.expect("connects through the proxy");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);

    // Refuse: the open connection dies and a new one fails fast.
    proxy.set(Fault::Refuse);
    let started = Instant::now();
    assert!(sqlx::query("SELECT 1").execute(&mut conn).await.is_err());
    assert!(connect(&url).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a refusal is fast"
    );

    // Black hole: connecting never completes.
    proxy.set(Fault::BlackHole);
    let started = Instant::now();
    assert!(connect(&url).await.is_err());
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "a black hole hangs"
    );

    // Delay: a query still works, later.
    proxy.set(Fault::Delay(Duration::from_millis(100)));
    let started = Instant::now();
    let mut conn = connect(&url).await.expect("connects slowly");
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Cut: open connections die, new ones work.
    proxy.set(Fault::Pass);
    proxy.cut_all();
    assert!(sqlx::query("SELECT 1").execute(&mut conn).await.is_err());
    let mut conn = connect(&url).await.expect("reconnects");
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    assert!(proxy.accepted() >= 5);
}

#[sqlx::test]
async fn a_bridge_child_process_serves_until_killed(pool: sqlx::PgPool) {
    use crate::support::bridge_process::BridgeProcess;
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let port = BridgeProcess::free_port();
    let config = format!(
        "public_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [database]\nurl = \"{}\"\n[crypto]\nactive_key = \"test\"\n[crypto.keys]\ntest = \"{}\"\n",
        database_url_for(&database, None),
        crate::app_support::TEST_SEALING_KEY
    );
    let mut bridge = BridgeProcess::start(port, &config, &[], Duration::from_secs(30)).await;
    let ready = reqwest::get(bridge.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    bridge.kill9();
    assert!(bridge.exit_status().is_some(), "killed");
    assert!(reqwest::get(bridge.url("/readyz")).await.is_err());
}
