//! Gateway benchmark (see `bench/README.md`, section "Gateway").
//!
//! In one process, on loopback: a scratch database on the local Postgres, the fake upstream IdP
//! (`tests/support/fake_idp`), the demo MCP server and the bridge (`Application::build_with` on
//! a pre-bound listener). The bridge runs on its own tokio runtime, everything else on another,
//! so that each group's threads can be pinned to CPUs and the bridge's own CPU time read. A real
//! access token comes from the real login flow (authorize → consent → IdP → callback → token).
//! Then:
//!
//! 1. `tools/call echo` in an initialized session, directly to the demo server and through the
//!    gateway, at concurrency 1 and 64, each for a warm-up and a measured window (warm caches):
//!    requests/s, p50, p99, the added median latency and the throughput ratio. Twice: with every
//!    thread free to run on every CPU ("shared": the gateway competes with the load generator
//!    and the MCP server), and, on a machine with two CPUs or more, with the bridge on one CPU
//!    and everything else on another ("split": as deployed, where the gateway does not share its
//!    CPU with its clients or the MCP server; the direct path gets the same one CPU);
//! 2. a cold-cache stampede: the user context of the login's grant is dropped, then `N`
//!    concurrent requests (connections already open, released together) → userinfo calls seen
//!    by the IdP (must be 1);
//! 3. memory: `U` more grants + access tokens inserted in SQL, each user context then loaded
//!    and cached by one real gateway request per token → VmRSS before/after;
//! 4. throughput at concurrency 64 round-robin over those `U` tokens (every request a different
//!    user, the shape of a busy multi-user gateway).
//!
//! Drops the scratch database at the end. Writes nothing else.
//!
//! `cargo run --release --example gateway_bench -- [--duration S] [--warmup S] [--users N]
//!  [--stampede N] [--userinfo-delay-ms MS]`; `GATEWAY_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) names the server, loopback only.

#[path = "gateway_bench/load.rs"]
mod load;
#[path = "gateway_bench/pinning.rs"]
mod pinning;
#[path = "gateway_bench/population.rs"]
mod population;
#[path = "gateway_bench/setup.rs"]
mod setup;
// The test suite's fake IdP, as is; the benchmark uses a part of its API.
#[allow(unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use load::{Stats, Target};
use pinning::Group;
use setup::{Scratch, World};
use sqlx::PgPool;

/// The allocator of the `mcp-auth-bridge` binary (`src/main.rs`), so the bridge is measured as
/// it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The cache-warming pass over all users stops after this, whatever happens.
const WARM_LIMIT: Duration = Duration::from_secs(600);
const HIGH: usize = 64;
const SIGNATURES: u32 = 2_000;

struct Args {
    duration: u64,
    warmup: u64,
    users: usize,
    stampede: usize,
    userinfo_delay_ms: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        duration: 5,
        warmup: 1,
        users: 100_000,
        stampede: 1_000,
        userinfo_delay_ms: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("every flag takes a value")?;
        match flag.as_str() {
            "--duration" => a.duration = value.parse()?,
            "--warmup" => a.warmup = value.parse()?,
            "--users" => a.users = value.parse()?,
            "--stampede" => a.stampede = value.parse()?,
            "--userinfo-delay-ms" => a.userinfo_delay_ms = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if !(1..=600).contains(&a.duration) || a.warmup > 600 || a.users > 1_000_000 {
        bail!("--duration 1..=600, --warmup ..=600, --users ..=1000000");
    }
    if !(1..=10_000).contains(&a.stampede) {
        bail!("--stampede 1..=10000");
    }
    Ok(a)
}

/// The two groups of threads: the bridge's, and everybody else's (the main thread included).
struct Threads {
    bridge: Group,
    rest: Group,
    /// The CPUs the process was allowed at start (before any pinning).
    cpus: Vec<usize>,
}

/// Where each group may run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Every thread on every CPU.
    Shared,
    /// The bridge on the last CPU, everything else on the first.
    Split,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Split => "split",
        }
    }

    fn apply(self, threads: &Threads) -> anyhow::Result<()> {
        let cpus = &threads.cpus;
        match (self, cpus.as_slice()) {
            (Self::Shared, _) => {
                threads.rest.pin(cpus)?;
                threads.bridge.pin(cpus)
            }
            (Self::Split, [first, .., last]) => {
                threads.rest.pin(&[*first])?;
                threads.bridge.pin(&[*last])
            }
            (Self::Split, _) => bail!("the split layout needs two CPUs"),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let threads = Threads {
        bridge: Group::default(),
        rest: Group::default(),
        cpus: pinning::cpus(),
    };
    threads.rest.register_current();
    let bridge = pinning::runtime("bridge", &threads.bridge)?;
    let rest = pinning::runtime("bench", &threads.rest)?;
    rest.block_on(async {
        let scratch = Scratch::create().await?;
        let outcome = run(&args, &scratch, bridge.handle(), &threads).await;
        scratch.drop_now().await?;
        outcome
    })?;
    bridge.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of this whole process so far, in microseconds: the load
/// generator, the demo MCP server, the fake IdP and the bridge all run in it.
fn cpu_micros() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0, |(user, system)| (user + system) * 10_000)
}

/// (utime, stime) of a `/proc/…/stat` line, in clock ticks of 1/100 s (`USER_HZ` on Linux).
fn ticks(stat: &str) -> Option<(u64, u64)> {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Committed + rolled-back transactions of the scratch database so far (statistics are flushed
/// by idle backends within a second, hence the pause).
async fn db_xacts(pool: &PgPool) -> anyhow::Result<i64> {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    Ok(sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

struct Row {
    layout: Layout,
    name: String,
    concurrency: usize,
    stats: Stats,
    db_per_req: f64,
    cpu_per_req_us: f64,
    bridge_cpu_per_req_us: f64,
    /// The part of `bridge_cpu_per_req_us` spent in the kernel (sockets, epoll, futexes).
    bridge_sys_per_req_us: f64,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    world: &World,
    client: &reqwest::Client,
    args: &Args,
    threads: &Threads,
    layout: Layout,
    name: &str,
    target: &Target,
    concurrency: usize,
) -> anyhow::Result<Row> {
    let before = db_xacts(&world.pool).await?;
    let cpu_before = cpu_micros();
    let bridge_before = threads.bridge.cpu_micros();
    let stats = load::run(
        client,
        target,
        concurrency,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
    )
    .await?;
    let cpu = cpu_micros() - cpu_before;
    let bridge_after = threads.bridge.cpu_micros();
    let bridge_user = bridge_after.0.saturating_sub(bridge_before.0);
    let bridge_sys = bridge_after.1.saturating_sub(bridge_before.1);
    let bridge_cpu = bridge_user + bridge_sys;
    let after = db_xacts(&world.pool).await?;
    // The warm-up's requests ran too: spread the transactions and CPU over both windows.
    let sent = stats.rps * (args.warmup + args.duration) as f64;
    eprintln!(
        "  {:<6} {name:<22} c={concurrency:<3} {:>8.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}  CPU {:.0} µs/req (bridge {:.0}, kernel {:.0})  load {}",
        layout.name(),
        stats.rps,
        stats.p50_us,
        stats.p99_us,
        stats.errors,
        cpu as f64 / sent.max(1.0),
        bridge_cpu as f64 / sent.max(1.0),
        bridge_sys as f64 / sent.max(1.0),
        load_average()
    );
    Ok(Row {
        layout,
        name: name.to_owned(),
        concurrency,
        db_per_req: (after - before - 1) as f64 / sent.max(1.0),
        cpu_per_req_us: cpu as f64 / sent.max(1.0),
        bridge_cpu_per_req_us: bridge_cpu as f64 / sent.max(1.0),
        bridge_sys_per_req_us: bridge_sys as f64 / sent.max(1.0),
        stats,
    })
}

async fn run(
    args: &Args,
    scratch: &Scratch,
    bridge: &tokio::runtime::Handle,
    threads: &Threads,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let world = setup::start(scratch, (args.users as u64 + 10_000).max(100_000), bridge).await?;
    let token = setup::login(&world).await?;
    let (claims, grant) = population::claims_of(&world, &token).await?;
    let client = load::client()?;
    let direct = Target {
        url: world.demo_url.clone(),
        session: setup::initialize(&client, &world.demo_url, None).await?,
        tokens: Arc::new(Vec::new()),
        body: load::ECHO,
    };
    let gateway = Target {
        url: world.gateway_url(),
        session: setup::initialize(&client, &world.gateway_url(), Some(&token)).await?,
        tokens: Arc::new(vec![token.clone()]),
        body: load::ECHO,
    };
    eprintln!(
        "setup done in {:.1}s (login through the fake IdP, sessions initialized)",
        started.elapsed().as_secs_f64()
    );

    // 1. Direct vs gateway, warm caches, in each layout the machine allows.
    let mut layouts = vec![Layout::Shared];
    if threads.cpus.len() >= 2 {
        layouts.push(Layout::Split);
    }
    let mut rows = Vec::new();
    for &layout in &layouts {
        layout.apply(threads)?;
        for c in [1, HIGH] {
            for (name, target) in [("direct", &direct), ("gateway", &gateway)] {
                let row = measure(&world, &client, args, threads, layout, name, target, c).await?;
                rows.push(row);
            }
        }
    }
    Layout::Shared.apply(threads)?;

    // 2. Cold-cache stampede for one grant.
    let burst_client = load::client()?;
    let ping = Target {
        body: load::PING,
        ..gateway.clone()
    };
    // A first burst with the cache warm opens the connections; the measured one reuses them.
    let warm = load::burst(&burst_client, &ping, args.stampede).await?;
    if warm.iter().any(|s| *s != 200) {
        bail!("warm burst: not all 200: {:?}", histogram(&warm));
    }
    world
        .idp
        .set_userinfo_delay(Duration::from_millis(args.userinfo_delay_ms));
    world.state.gateway.users.forget(grant).await;
    let userinfo_before = world.idp.counters().userinfo;
    let xacts_before = db_xacts(&world.pool).await?;
    let t = Instant::now();
    let statuses = load::burst(&burst_client, &ping, args.stampede).await?;
    let burst_secs = t.elapsed().as_secs_f64();
    let stampede_userinfo = world.idp.counters().userinfo - userinfo_before;
    let stampede_xacts = db_xacts(&world.pool).await? - xacts_before - 1;
    world.idp.set_userinfo_delay(Duration::ZERO);
    drop(burst_client);

    // 3. Memory with `users` cached user contexts.
    let t = Instant::now();
    let tokens = population::populate(&world, &claims, grant, args.users).await?;
    eprintln!(
        "inserted {} grants + access tokens, signed their JWTs in {:.1}s",
        tokens.len(),
        t.elapsed().as_secs_f64()
    );
    let many = Target {
        tokens: Arc::new(tokens),
        ..ping.clone()
    };
    let gw = &world.state.gateway;
    gw.verified.run_pending_tasks().await;
    let (users_before, verified_before) = (gw.users.entry_count(), gw.verified.entry_count());
    let rss_before = rss_kib();
    let userinfo_before = world.idp.counters().userinfo;
    let t = Instant::now();
    let (sent, failed) = load::each_once(&client, &many, HIGH, WARM_LIMIT).await?;
    let warm_secs = t.elapsed().as_secs_f64();
    let warm_userinfo = world.idp.counters().userinfo - userinfo_before;
    gw.verified.run_pending_tasks().await;
    gw.token_states.run_pending_tasks().await;
    let rss_after = rss_kib();
    let (users_after, verified_after) = (gw.users.entry_count(), gw.verified.entry_count());

    // 4. Many users at concurrency 64 (caches warm; token states expire after 1 s).
    let many_echo = Target {
        body: load::ECHO,
        ..many.clone()
    };
    let name = format!("gateway, {} users", args.users);
    let many_row = measure(
        &world,
        &client,
        args,
        threads,
        Layout::Shared,
        &name,
        &many_echo,
        HIGH,
    )
    .await?;

    // 5. What one ES256 signature costs here (the gateway signs an `X-Auth-Assertion` per
    //    request; an access token is the same shape of JWT).
    let signer = world.state.keys.signer(world.tenant_id).await?;
    let t = Instant::now();
    for _ in 0..SIGNATURES {
        std::hint::black_box(mcp_auth_bridge::tokens::access::sign(&signer, &claims)?);
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURES);

    // The report.
    println!();
    println!(
        "Gateway benchmark: tools/call echo, {} s measured after {} s warm-up, {} CPUs, everything in one process (load average now {})",
        args.duration,
        args.warmup,
        threads.cpus.len(),
        load_average()
    );
    println!();
    println!(
        "| layout | path | concurrency | requests | req/s | p50 µs | p99 µs | errors | CPU µs/req | bridge CPU µs/req (kernel) | DB xacts/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows.iter().chain(std::iter::once(&many_row)) {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} ({:.0}) | {:.3} |",
            r.layout.name(),
            r.name,
            r.concurrency,
            r.stats.requests,
            r.stats.rps,
            r.stats.p50_us,
            r.stats.p99_us,
            r.stats.errors,
            r.cpu_per_req_us,
            r.bridge_cpu_per_req_us,
            r.bridge_sys_per_req_us,
            r.db_per_req
        );
    }
    for &layout in &layouts {
        let find = |name: &str, c: usize| {
            rows.iter()
                .find(|r| r.layout == layout && r.name == name && r.concurrency == c)
        };
        let (Some(d1), Some(g1), Some(d64), Some(g64)) = (
            find("direct", 1),
            find("gateway", 1),
            find("direct", HIGH),
            find("gateway", HIGH),
        ) else {
            continue;
        };
        let added = g1.stats.p50_us - d1.stats.p50_us;
        let ratio = g64.stats.rps / d64.stats.rps;
        println!();
        println!("{} layout:", layout.name());
        println!(
            "  added median latency (c=1): {added:.0} µs (target < 150 µs: {})",
            verdict(added < 150.0)
        );
        println!(
            "  gateway/direct throughput (c=64): {:.0} % (target ≥ 60 %: {})",
            ratio * 100.0,
            verdict(ratio >= 0.6)
        );
        println!(
            "  CPU per request (c=64): whole process direct {:.0} µs, gateway {:.0} µs; the bridge's own threads {:.0} µs (≈ {:.0} req/s per dedicated CPU)",
            d64.cpu_per_req_us,
            g64.cpu_per_req_us,
            g64.bridge_cpu_per_req_us,
            1e6 / g64.bridge_cpu_per_req_us.max(1.0)
        );
    }
    println!(
        "stampede: {} concurrent cold requests for one grant (userinfo delay {} ms): {} userinfo call(s) ({}), statuses {:?}, {:.2}s, {} DB xacts",
        args.stampede,
        args.userinfo_delay_ms,
        stampede_userinfo,
        verdict(stampede_userinfo == 1),
        histogram(&statuses),
        burst_secs,
        stampede_xacts
    );
    let delta_kib = rss_after.saturating_sub(rss_before);
    println!(
        "memory: {} user contexts loaded through the gateway ({} requests, {} failed, {} userinfo calls, {:.1}s, {:.0} req/s)",
        args.users,
        sent,
        failed,
        warm_userinfo,
        warm_secs,
        sent as f64 / warm_secs
    );
    println!(
        "        cached user contexts {users_before} → {users_after}, verified tokens {verified_before} → {verified_after}"
    );
    println!(
        "        VmRSS {:.1} MiB → {:.1} MiB: +{:.1} MiB, {:.0} bytes per user",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        delta_kib as f64 / 1024.0,
        (delta_kib * 1024) as f64 / args.users.max(1) as f64
    );
    println!(
        "one ES256 JWT signature (jsonwebtoken, key parsed from PKCS#8 on every call): {sign_us:.0} µs"
    );
    println!("total {:.0}s", started.elapsed().as_secs_f64());
    world.pool.close().await;
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn histogram(statuses: &[u16]) -> std::collections::BTreeMap<u16, usize> {
    let mut h = std::collections::BTreeMap::new();
    for s in statuses {
        *h.entry(*s).or_insert(0) += 1;
    }
    h
}
