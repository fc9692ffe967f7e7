//! Sweeper benchmark (see `bench/README.md`, section "Sweeper").
//!
//! Creates a scratch database on the local Postgres, fills `authorization_codes` with expired
//! and live rows, then runs one sweep while a writer loop inserts and updates single codes on
//! its own connection, and reports the sweep's throughput and the writer's worst latency
//! (alone first, as a baseline, then during the sweep). Drops the scratch database at the end.
//!
//! `cargo run --release --example sweep_bench -- [--rows N] [--live N] [--batch N]`
//! `SWEEP_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) names the
//! server; only loopback hosts are accepted.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::Utc;
use mcp_auth_bridge::{
    config::Config,
    sweeper::{SweepOptions, Sweeper},
};
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

/// The writer never runs longer than this, whatever happens to the sweep.
const WRITER_LIMIT: Duration = Duration::from_secs(600);
const BASELINE: Duration = Duration::from_secs(3);

struct Args {
    rows: i64,
    live: i64,
    batch: u32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        rows: 200_000,
        live: 10_000,
        batch: 1_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("every flag takes a value")?;
        match flag.as_str() {
            "--rows" => a.rows = value.parse()?,
            "--live" => a.live = value.parse()?,
            "--batch" => a.batch = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let url = std::env::var("SWEEP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin: PgConnectOptions = url.parse()?;
    if !matches!(admin.get_host(), "127.0.0.1" | "localhost" | "::1") {
        bail!("the benchmark only talks to a loopback Postgres");
    }
    let name = format!("sweep_bench_{}", std::process::id());
    let mut conn = admin.connect().await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let outcome = run(&args, admin.clone().database(&name)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    outcome
}

async fn run(args: &Args, options: PgConnectOptions) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.clone())
        .await?;
    mcp_auth_bridge::store::migrate(&pool).await?;
    let ids = fixture(&pool).await?;
    let t = Instant::now();
    fill(&pool, &ids, args).await?;
    let live = live_codes(&pool).await?;
    println!(
        "filled {} expired + {live} live codes in {:.1}s",
        args.rows + args.live - live,
        t.elapsed().as_secs_f64()
    );

    let baseline = writer_for(&options, &ids, BASELINE).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(writer(options.clone(), ids, stop.clone(), WRITER_LIMIT));
    let sweeper = Sweeper::new(pool.clone(), &config()?).with_options(SweepOptions {
        batch_size: args.batch,
        max_batches_per_kind: u32::MAX,
        ..SweepOptions::default()
    });
    let report = sweeper.run_once(Utc::now()).await?;
    stop.store(true, Ordering::Relaxed);
    let during = writer.await??;
    let writes = baseline.len() + during.len();

    let deleted = report.deleted["authorization_codes"];
    let batches = report.batches["authorization_codes"];
    let secs = report.duration.as_secs_f64();
    let left = live_codes(&pool).await?;
    println!(
        "sweep: {deleted} codes in {batches} batches of {}, {secs:.2}s, {:.0} rows/s, {:.1} ms/batch (slowest {:.1} ms)",
        args.batch,
        deleted as f64 / secs,
        secs * 1e3 / f64::from(batches.max(1)),
        report.slowest_batch.as_secs_f64() * 1e3
    );
    println!(
        "writer alone  (INSERT+UPDATE, {} ops): {}",
        baseline.len(),
        stats(baseline)
    );
    println!(
        "writer during (INSERT+UPDATE, {} ops): {}",
        during.len(),
        stats(during)
    );
    println!(
        "live codes left: {left} = {live} + the writer's {}: {}",
        writes / 2,
        if left == live + writes as i64 / 2 {
            "ok, nothing live was deleted"
        } else {
            "MISMATCH"
        }
    );
    pool.close().await;
    Ok(())
}

async fn live_codes(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM authorization_codes WHERE expires_at > now()")
            .fetch_one(pool)
            .await?,
    )
}

fn config() -> anyhow::Result<Config> {
    Ok(Config::load_str(
        "public_url = \"http://127.0.0.1:1\"\n[database]\nurl = \"postgres://unused@127.0.0.1:1/x\"\n\
         [crypto]\nactive_key = \"b\"\n[crypto.keys]\nb = \"QkVOQ0gtT05MWSBrZXkgbWNwLWF1dGgtYnJpZGdlIDE=\"\n",
        &[],
    )?)
}

fn stats(mut micros: Vec<u64>) -> String {
    if micros.is_empty() {
        return "no ops".into();
    }
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize] as f64 / 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[derive(Clone, Copy)]
struct Ids {
    tenant: Uuid,
    client: Uuid,
    grant: Uuid,
    server: Uuid,
}

async fn fixture(pool: &PgPool) -> anyhow::Result<Ids> {
    let ids = Ids {
        tenant: Uuid::new_v4(),
        client: Uuid::new_v4(),
        grant: Uuid::new_v4(),
        server: Uuid::new_v4(),
    };
    let provider = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO tenants (id, slug, display_name) VALUES ($1, 'bench', 'Bench')")
        .bind(ids.tenant)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO upstream_providers (id, tenant_id, name, kind) VALUES ($1, $2, 'dev', 'dev')",
    )
    .bind(provider)
    .bind(ids.tenant)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO mcp_servers (id, tenant_id, name, upstream_url) VALUES ($1, $2, 'demo', 'http://127.0.0.1:9')")
        .bind(ids.server).bind(ids.tenant).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO oauth_clients (id, tenant_id, client_id, kind, token_endpoint_auth_method, redirect_uris, last_used_at)
         VALUES ($1, $2, 'bench', 'static', 'none', '{http://127.0.0.1/cb}', now())",
    )
    .bind(ids.client).bind(ids.tenant).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO grants (id, tenant_id, provider_id, client_pk, subject, upstream_access_token, upstream_access_key_id)
         VALUES ($1, $2, $3, $4, 'bench', '\\x00', 'test')",
    )
    .bind(ids.grant).bind(ids.tenant).bind(provider).bind(ids.client).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(ids)
}

/// Expired codes spread over the past hour and live ones 10 to 20 minutes ahead, interleaved
/// in the heap as real traffic leaves them; then ANALYZE, as autovacuum would.
async fn fill(pool: &PgPool, ids: &Ids, args: &Args) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, tenant_id, client_pk, grant_id, mcp_server_id,
             redirect_uri, code_challenge, scopes, resource, expires_at)
         SELECT sha256(int8send(i)), $1, $2, $3, $4, 'http://127.0.0.1/cb', 'x', '{mcp}', 'r',
                CASE WHEN i % (($5 + $6) / GREATEST($6, 1)) = 0 THEN now() + interval '10 minutes' + random() * interval '10 minutes'
                     ELSE now() - random() * interval '1 hour' END
         FROM generate_series(1, $5 + $6) AS i",
    )
    .bind(ids.tenant)
    .bind(ids.client)
    .bind(ids.grant)
    .bind(ids.server)
    .bind(args.rows)
    .bind(args.live)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE authorization_codes")
        .execute(pool)
        .await?;
    Ok(())
}

async fn writer_for(
    options: &PgConnectOptions,
    ids: &Ids,
    d: Duration,
) -> anyhow::Result<Vec<u64>> {
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(writer(options.clone(), *ids, stop.clone(), d));
    tokio::time::sleep(d).await;
    stop.store(true, Ordering::Relaxed);
    task.await?
}

/// The token endpoint's shape of write: insert one live code, then mark it used. Returns each
/// statement's latency in microseconds. Bounded by `stop` and by `limit`.
async fn writer(
    options: PgConnectOptions,
    ids: Ids,
    stop: Arc<AtomicBool>,
    limit: Duration,
) -> anyhow::Result<Vec<u64>> {
    let mut conn = PgConnection::connect_with(&options).await?;
    let mut micros = Vec::new();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
        let hash = Uuid::new_v4().as_bytes().to_vec();
        let t = Instant::now();
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, tenant_id, client_pk, grant_id, mcp_server_id,
                 redirect_uri, code_challenge, scopes, resource, expires_at)
             VALUES ($1, $2, $3, $4, $5, 'http://127.0.0.1/cb', 'x', '{mcp}', 'r', now() + interval '5 minutes')",
        )
        .bind(&hash).bind(ids.tenant).bind(ids.client).bind(ids.grant).bind(ids.server)
        .execute(&mut conn)
        .await?;
        micros.push(t.elapsed().as_micros() as u64);
        let t = Instant::now();
        sqlx::query("UPDATE authorization_codes SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL")
            .bind(&hash)
            .execute(&mut conn)
            .await?;
        micros.push(t.elapsed().as_micros() as u64);
    }
    conn.close().await?;
    Ok(micros)
}
