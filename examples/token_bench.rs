//! Token-endpoint benchmark (see `bench/README.md`, section "Token endpoint").
//!
//! In one process, on loopback: a scratch database on the local Postgres, the fake upstream IdP
//! (`tests/support/fake_idp`), the demo MCP server and the bridge (`Application::build_with` on
//! a pre-bound listener, on its own tokio runtime whose threads are named `bridge`, so that its
//! CPU time can be read from `/proc/self/task`). Every refresh chain starts with a real login
//! (authorize → consent → IdP → callback → token); then each chain presents its latest refresh
//! token, again and again, for the measured window. Reported per concurrency (1, 8, 32):
//! refreshes/s, p50/p99, bridge CPU per refresh (the `bridge` threads), Postgres CPU per refresh
//! (utime + stime from `/proc/<pid>/stat` of every backend connected to the scratch database),
//! transactions per refresh (`pg_stat_database`), statements per refresh (`pg_stat_statements`
//! when it is loaded; otherwise the statements the bridge sent, counted from sqlx's
//! per-statement `sqlx::query` tracing events) and row writes per refresh (`pg_stat_user_tables`).
//! Then one chain is driven to `--generations` (10,000) and measured again at concurrency 1: the
//! cost must not grow with a family's history. `VACUUM (ANALYZE)` before every measurement; dead
//! tuples reported after. The background sweeper is off.
//!
//! `cargo run --release --example token_bench -- [--duration S] [--generations N]`;
//! `TOKEN_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) names the
//! server, loopback only.

#[path = "common/bridge.rs"]
mod common;
// The test suite's fake IdP, as is; the benchmark uses a part of its API.
#[allow(unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use demo_mcp_server::{self, DemoMcpOptions};
use mcp_auth_bridge::{
    config::{Config, HumanDuration},
    store,
};
use reqwest::{StatusCode, header::LOCATION};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{ConnectOptions, PgPool, postgres::PgConnectOptions};
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A fixed, obviously-a-benchmark sealing key: base64 of `BENCH-ONLY key mcp-auth-bridge 1`.
const SEALING_KEY: &str = "QkVOQ0gtT05MWSBrZXkgbWNwLWF1dGgtYnJpZGdlIDE=";
const REDIRECT_URI: &str = "http://127.0.0.1:7777/callback";
const TENANT: &str = "acme";
const CONCURRENCIES: [usize; 3] = [1, 8, 32];
/// Driving the long chain stops after this, whatever happens.
const CHAIN_LIMIT: Duration = Duration::from_secs(300);

/// Statements sent by the bridge: sqlx emits one `sqlx::query` event per statement executed.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Args {
    duration: u64,
    generations: u32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        duration: 5,
        generations: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("every flag takes a value")?;
        match flag.as_str() {
            "--duration" => a.duration = value.parse()?,
            "--generations" => a.generations = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    ensure!((1..=120).contains(&a.duration), "--duration 1..=120");
    ensure!(
        (10..=100_000).contains(&a.generations),
        "--generations 10..=100000"
    );
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("sqlx::query", tracing::Level::TRACE);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(
        tracing_subscriber::Layer::with_filter(CountStatements, filter),
    ))?;
    let bridge = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bridge")
        .enable_all()
        .build()?;
    let bench = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench")
        .enable_all()
        .build()?;
    bench.block_on(async {
        let url = std::env::var("TOKEN_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin: PgConnectOptions = url.parse()?;
        if !matches!(admin.get_host(), "127.0.0.1" | "localhost" | "::1") {
            bail!("the benchmark only talks to a loopback Postgres");
        }
        let name = format!("token_bench_{}", std::process::id());
        let mut conn = admin.connect().await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let mut db_url = url::Url::parse(&url)?;
        db_url.set_path(&format!("/{name}"));
        db_url.set_query(Some("sslmode=disable"));
        let outcome = run(&args, db_url.as_str(), bridge.handle()).await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        outcome
    })?;
    bridge.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

struct World {
    pool: PgPool,
    base: String,
    resource: String,
    client_id: String,
    http: reqwest::Client,
    pg_stat_statements: bool,
}

async fn start(db: &str, bridge: &tokio::runtime::Handle) -> anyhow::Result<World> {
    let idp = support::fake_idp::FakeIdp::start(support::fake_idp::FakeIdpOptions::default()).await;
    let (mcp, _handle) = demo_mcp_server::spawn(DemoMcpOptions::default()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let toml = format!(
        r#"
public_url = "{base}"
[server]
bind = "127.0.0.1:0"
shutdown_grace = "2s"
[database]
url = "{db}"
[crypto]
active_key = "bench"
[crypto.keys]
bench = "{SEALING_KEY}"
[[tenants]]
slug = "{TENANT}"
display_name = "ACME"
scopes = ["mcp"]
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
[[tenants.mcp_servers]]
name = "demo"
url = "http://{mcp}/mcp"
"#,
        issuer = idp.issuer(),
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
    );
    let mut config = Config::load_str(&toml, &[])?;
    config.auth.cleanup_interval = HumanDuration::secs(0);
    let pool = store::connect(&config.database).await?;
    common::serve(config, listener, bridge).await?;
    let (_, client_id) =
        common::register_public_client(&pool, TENANT, REDIRECT_URI, "Token benchmark").await?;
    let pg_stat_statements = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&pool)
        .await
        .is_ok()
        && sqlx::query("SELECT count(*) FROM pg_stat_statements")
            .execute(&pool)
            .await
            .is_ok();
    // Keep the IdP and the demo server alive for the whole run.
    std::mem::forget(idp);
    std::mem::forget(_handle);
    Ok(World {
        pool,
        resource: format!("{base}/t/{TENANT}/mcp/demo"),
        base,
        client_id,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?,
        pg_stat_statements,
    })
}

fn location(r: &reqwest::Response) -> anyhow::Result<String> {
    Ok(r.headers()
        .get(LOCATION)
        .with_context(|| format!("no Location on {}", r.status()))?
        .to_str()?
        .to_owned())
}

fn hidden_field(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).context("consent field")? + marker.len();
    Ok(html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The whole login (PKCE S256, consent, the fake IdP, the callback, `/token`); the refresh token.
async fn login(w: &World) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let verifier = mcp_auth_bridge::crypto::random::token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&format!("{}/t/{TENANT}/authorize", w.base))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &w.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", "bench")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &w.resource)
        .append_pair("scope", "mcp");
    let consent = browser.get(authorize).send().await?;
    ensure!(
        consent.status() == StatusCode::OK,
        "authorize answered {}",
        consent.status()
    );
    let html = consent.text().await?;
    let form = [
        ("pending", hidden_field(&html, "pending")?),
        ("csrf", hidden_field(&html, "csrf")?),
        ("decision", "approve".into()),
    ];
    let approved = browser
        .post(format!("{}/t/{TENANT}/consent", w.base))
        .form(&form)
        .send()
        .await?;
    let at_idp = browser.get(location(&approved)?).send().await?;
    let back = browser.get(location(&at_idp)?).send().await?;
    let redirect = url::Url::parse(&location(&back)?)?;
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the redirect to the client")?;
    let tokens: Value = browser
        .post(format!("{}/t/{TENANT}/token", w.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &w.client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(tokens["refresh_token"]
        .as_str()
        .context("no refresh_token in the token response")?
        .to_owned())
}

/// One refresh: presents `token`, returns its successor.
async fn refresh(w: &World, token: &str) -> anyhow::Result<String> {
    let r = w
        .http
        .post(format!("{}/t/{TENANT}/token", w.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", &w.client_id),
        ])
        .send()
        .await?;
    ensure!(
        r.status() == StatusCode::OK,
        "refresh answered {}",
        r.status()
    );
    let body: Value = r.json().await?;
    Ok(body["refresh_token"]
        .as_str()
        .context("no refresh_token")?
        .to_owned())
}

/// (utime + stime) in clock ticks of 1/100 s from a `/proc/…/stat` line.
fn ticks(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of this process's `bridge` threads, in microseconds.
fn bridge_cpu_us() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter(|s| s.contains("(bridge)"))
        .filter_map(|s| ticks(&s))
        .sum::<u64>()
        * 10_000
}

/// CPU time of the Postgres backends connected to the scratch database, in microseconds, by
/// pid (a backend may come or go between two readings; only pids seen at both count).
async fn pg_cpu(pool: &PgPool) -> anyhow::Result<Vec<(i32, u64)>> {
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(pool)
            .await?;
    Ok(pids
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, ticks(&stat)? * 10_000))
        })
        .collect())
}

fn pg_cpu_delta(before: &[(i32, u64)], after: &[(i32, u64)]) -> u64 {
    after
        .iter()
        .map(|(pid, a)| {
            let b = before.iter().find(|(p, _)| p == pid).map_or(0, |(_, b)| *b);
            a.saturating_sub(b)
        })
        .sum()
}

/// Counters of the scratch database: (transactions, statements, row writes). A busy backend
/// flushes its statistics at most once a second and an idle one only after
/// `PGSTAT_IDLE_INTERVAL` (10 s in Postgres 15), hence the long pause.
async fn counters(w: &World) -> anyhow::Result<(i64, i64, i64)> {
    tokio::time::sleep(Duration::from_millis(11_000)).await;
    let xacts: i64 = sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&w.pool)
    .await?;
    let statements = if w.pg_stat_statements {
        sqlx::query_scalar("SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements")
            .fetch_one(&w.pool)
            .await?
    } else {
        i64::try_from(STATEMENTS.load(Ordering::Relaxed)).unwrap_or(0)
    };
    let writes: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int8 FROM pg_stat_user_tables",
    )
    .fetch_one(&w.pool)
    .await?;
    Ok((xacts, statements, writes))
}

async fn dead_tuples(w: &World) -> anyhow::Result<String> {
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, n_dead_tup, n_live_tup FROM pg_stat_user_tables
         WHERE relname IN ('refresh_tokens', 'refresh_token_families', 'access_tokens', 'grants')
         ORDER BY relname",
    )
    .fetch_all(&w.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|(t, dead, live)| format!("{t} {dead} dead/{live} live"))
        .collect::<Vec<_>>()
        .join(", "))
}

struct Outcome {
    refreshes: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// `chains.len()` concurrent chains, each presenting its latest token, for `window`.
async fn drive(w: &Arc<World>, chains: &mut [String], window: Duration) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for token in chains.iter() {
        let w = Arc::clone(w);
        let mut token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < window {
                let t = Instant::now();
                token = refresh(&w, &token).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok((token, latencies))
        }));
    }
    let mut latencies = Vec::new();
    for (slot, task) in chains.iter_mut().zip(tasks) {
        let (token, l) = task.await??;
        *slot = token;
        latencies.extend(l);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Ok(Outcome {
        refreshes: latencies.len(),
        elapsed,
        latencies,
    })
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1_000.0
}

async fn measure(
    w: &Arc<World>,
    label: &str,
    chains: &mut [String],
    window: Duration,
) -> anyhow::Result<()> {
    sqlx::query("VACUUM (ANALYZE)").execute(&w.pool).await?;
    // Warm-up: every chain's connection open, plans cached.
    drive(w, chains, Duration::from_millis(500)).await?;
    let (x0, s0, r0) = counters(w).await?;
    let pg0 = pg_cpu(&w.pool).await?;
    let b0 = bridge_cpu_us();
    let out = drive(w, chains, window).await?;
    let b1 = bridge_cpu_us();
    let pg1 = pg_cpu(&w.pool).await?;
    let (x1, s1, r1) = counters(w).await?;
    let n = out.refreshes.max(1) as f64;
    // The bench's own queries between the two readings (counters, backend pids): about four,
    // subtracted from transactions and statements (±1 over thousands of refreshes).
    let own = 4.0;
    println!(
        "{label:<28} {:>7.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  bridge {:>5.0} µs  postgres {:>5.0} µs  xact {:>4.2}  stmt {:>4.2}  writes {:>5.2}  (n={})",
        n / out.elapsed.as_secs_f64(),
        pct(&out.latencies, 0.50),
        pct(&out.latencies, 0.99),
        b1.saturating_sub(b0) as f64 / n,
        pg_cpu_delta(&pg0, &pg1) as f64 / n,
        ((x1 - x0) as f64 - own) / n,
        ((s1 - s0) as f64 - own) / n,
        (r1 - r0) as f64 / n,
        out.refreshes,
    );
    println!("{:<28} after: {}", "", dead_tuples(w).await?);
    Ok(())
}

async fn run(args: &Args, db: &str, bridge: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let w = Arc::new(start(db, bridge).await?);
    let window = Duration::from_secs(args.duration);
    println!(
        "token endpoint, refresh_token grant; window {}s per row; statements from {}; load {}",
        args.duration,
        if w.pg_stat_statements {
            "pg_stat_statements (all backends of the database)"
        } else {
            "sqlx's per-statement events (the bridge's statements, BEGIN/COMMIT included)"
        },
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut chains = Vec::new();
    for _ in 0..*CONCURRENCIES.iter().max().unwrap_or(&1) {
        chains.push(login(&w).await?);
    }
    for c in CONCURRENCIES {
        measure(
            &w,
            &format!("c={c}, fresh chains"),
            &mut chains[..c],
            window,
        )
        .await?;
    }
    // One family driven to `generations` refreshes, then measured alone.
    let mut long = vec![login(&w).await?];
    let started = Instant::now();
    for _ in 0..10 {
        long[0] = refresh(&w, &long[0]).await?;
    }
    measure(&w, "c=1, generation ~10", &mut long, window).await?;
    let mut generation: u32 = sqlx::query_scalar::<_, i32>(
        "SELECT generation FROM refresh_tokens WHERE token_hash = sha256($1::bytea)",
    )
    .bind(long[0].as_bytes())
    .fetch_one(&w.pool)
    .await?
    .try_into()?;
    while generation < args.generations && started.elapsed() < CHAIN_LIMIT {
        long[0] = refresh(&w, &long[0]).await?;
        generation += 1;
    }
    println!(
        "one family driven to generation {generation} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    measure(
        &w,
        &format!("c=1, generation {generation}+"),
        &mut long,
        window,
    )
    .await?;
    Ok(())
}
