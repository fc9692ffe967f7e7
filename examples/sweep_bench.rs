//! Sweeper benchmark (see `bench/README.md`, section "Sweeper").
//!
//! Creates a scratch database on the local Postgres and fills `authorization_codes` with expired
//! and live rows, then sweeps two byte-identical copies of it (`CREATE DATABASE … TEMPLATE`):
//! first deleting the codes in `expires_at` order (the reference, the sweeper before the heap
//! walk), then in heap order (the default). During each sweep a writer loop inserts and updates
//! single codes on its own connection. For each it reports the sweep's throughput, mean and
//! slowest batch, the WAL written, checkpoints and backend buffer writes during the sweep, and
//! the writer's worst latency (alone first, as a baseline, then during the sweep); then the
//! ratios of the two. Drops the scratch databases at the end.
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
    sweeper::{CodeOrder, SweepOptions, SweepReport, Sweeper},
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
        rows: 1_000_000,
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
    let seed = format!("sweep_bench_{}", std::process::id());
    let mut conn = admin.connect().await?;
    let outcome = run(&args, &admin, &mut conn, &seed).await;
    for db in [
        format!("{seed}_expiry"),
        format!("{seed}_heap"),
        seed.clone(),
    ] {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
    }
    outcome
}

async fn run(
    args: &Args,
    admin: &PgConnectOptions,
    conn: &mut PgConnection,
    seed: &str,
) -> anyhow::Result<()> {
    sqlx::query(&format!("CREATE DATABASE {seed}"))
        .execute(&mut *conn)
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(admin.clone().database(seed))
        .await?;
    mcp_auth_bridge::store::migrate(&pool).await?;
    let ids = fixture(&pool).await?;
    let t = Instant::now();
    fill(&pool, &ids, args).await?;
    let live = live_codes(&pool).await?;
    let sizes = relation_sizes(&pool).await?;
    pool.close().await;
    println!(
        "filled {} expired + {live} live codes in {:.1}s; {sizes}",
        args.rows + args.live - live,
        t.elapsed().as_secs_f64()
    );
    println!("postgres: {}", settings(conn).await?);

    let mut results = Vec::new();
    for (label, order) in [("expiry", CodeOrder::Expiry), ("heap", CodeOrder::Heap)] {
        let copy = format!("{seed}_{label}");
        // FILE_COPY: a byte-identical heap (same page layout) without writing it all to WAL.
        sqlx::query(&format!(
            "CREATE DATABASE {copy} TEMPLATE {seed} STRATEGY FILE_COPY"
        ))
        .execute(&mut *conn)
        .await?;
        let options = admin.clone().database(&copy);
        let result = sweep(args, &options, conn, &ids, live, order).await?;
        println!("{label:>6}: {result}");
        results.push(result);
        sqlx::query(&format!("DROP DATABASE {copy} WITH (FORCE)"))
            .execute(&mut *conn)
            .await?;
    }
    let (reference, heap) = (&results[0], &results[1]);
    println!(
        "heap / expiry: rows/s x{:.2}, slowest batch x{:.2}, mean batch x{:.2}, WAL x{:.2}",
        heap.rows_per_sec() / reference.rows_per_sec(),
        heap.slowest_ms() / reference.slowest_ms(),
        heap.mean_ms() / reference.mean_ms(),
        heap.wal_bytes as f64 / reference.wal_bytes.max(1) as f64,
    );
    Ok(())
}

/// One sweep of one copy, with the writer running, and what the server did meanwhile.
struct Sweep {
    report: SweepReport,
    batch: u32,
    wal_bytes: i64,
    checkpoints: i64,
    backend_writes: i64,
    writer_alone: String,
    writer_during: String,
    live_check: String,
}

impl Sweep {
    fn deleted(&self) -> u64 {
        self.report.deleted["authorization_codes"]
    }
    fn batches(&self) -> u32 {
        self.report.batches["authorization_codes"].max(1)
    }
    fn rows_per_sec(&self) -> f64 {
        self.deleted() as f64 / self.report.duration.as_secs_f64()
    }
    fn mean_ms(&self) -> f64 {
        self.report.duration.as_secs_f64() * 1e3 / f64::from(self.batches())
    }
    fn slowest_ms(&self) -> f64 {
        self.report.slowest_batch.as_secs_f64() * 1e3
    }
}

impl std::fmt::Display for Sweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} codes in {} batches of {}, {:.2}s, {:.0} rows/s, {:.1} ms/batch (slowest {:.1} ms); \
             WAL {:.0} MB, {} checkpoints, {} buffers written by backends\n        \
             writer alone  (INSERT+UPDATE): {}\n        writer during (INSERT+UPDATE): {}\n        {}",
            self.deleted(),
            self.batches(),
            self.batch,
            self.report.duration.as_secs_f64(),
            self.rows_per_sec(),
            self.mean_ms(),
            self.slowest_ms(),
            self.wal_bytes as f64 / 1e6,
            self.checkpoints,
            self.backend_writes,
            self.writer_alone,
            self.writer_during,
            self.live_check,
        )
    }
}

async fn sweep(
    args: &Args,
    options: &PgConnectOptions,
    admin: &mut PgConnection,
    ids: &Ids,
    live: i64,
    order: CodeOrder,
) -> anyhow::Result<Sweep> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.clone())
        .await?;
    let baseline = writer_for(options, ids, BASELINE).await?;
    // Both sweeps start right after a checkpoint, so both pay the same full-page writes.
    sqlx::query("CHECKPOINT").execute(&mut *admin).await?;
    let before = server_counters(admin).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(writer(options.clone(), *ids, stop.clone(), WRITER_LIMIT));
    let sweeper = Sweeper::new(pool.clone(), &config()?).with_options(SweepOptions {
        batch_size: args.batch,
        max_batches_per_kind: u32::MAX,
        code_order: order,
        ..SweepOptions::default()
    });
    let report = sweeper.run_once(Utc::now()).await;
    stop.store(true, Ordering::Relaxed);
    let during = writer.await??;
    let report = report?;
    let after = server_counters(admin).await?;
    let writes = baseline.len() + during.len();
    let left = live_codes(&pool).await?;
    pool.close().await;
    Ok(Sweep {
        report,
        batch: args.batch,
        wal_bytes: after.wal_bytes - before.wal_bytes,
        checkpoints: after.checkpoints - before.checkpoints,
        backend_writes: after.backend_writes - before.backend_writes,
        writer_alone: format!("{} ops, {}", baseline.len(), stats(baseline)),
        writer_during: format!("{} ops, {}", during.len(), stats(during)),
        live_check: format!(
            "live codes left: {left} = {live} + the writer's {}: {}",
            writes / 2,
            if left == live + writes as i64 / 2 {
                "ok, nothing live was deleted"
            } else {
                "MISMATCH"
            }
        ),
    })
}

struct Counters {
    wal_bytes: i64,
    checkpoints: i64,
    backend_writes: i64,
}

/// Cluster-wide: WAL position, checkpoints and buffers written by backends (rather than the
/// background writer or the checkpointer) so far.
async fn server_counters(conn: &mut PgConnection) -> anyhow::Result<Counters> {
    let (wal_bytes, checkpoints, backend_writes) = sqlx::query_as(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8,
                checkpoints_timed + checkpoints_req, buffers_backend
         FROM pg_stat_bgwriter",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Counters {
        wal_bytes,
        checkpoints,
        backend_writes,
    })
}

/// The settings that decide this benchmark, as the server has them.
async fn settings(conn: &mut PgConnection) -> anyhow::Result<String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings
         WHERE name IN ('server_version', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                        'synchronous_commit', 'full_page_writes', 'wal_compression', 'work_mem')
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Heap and index sizes of `authorization_codes` after the fill (a delete does not shrink
/// them; only vacuum makes the space reusable).
async fn relation_sizes(pool: &PgPool) -> anyhow::Result<String> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c
         WHERE c.oid = 'authorization_codes'::regclass
            OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'authorization_codes'::regclass)
         ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|(name, bytes)| format!("{name} {:.0} MB", *bytes as f64 / 1e6))
        .collect::<Vec<_>>()
        .join(", "))
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
