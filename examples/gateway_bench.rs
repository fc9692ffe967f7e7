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
//!    CPU with its clients or the MCP server; the direct path gets the same one CPU). In the
//!    shared layout, the same for a **streaming backend** (`sse_backend`: SSE, three events
//!    each in a write of its own, where a proxy without `TCP_NODELAY` stalls ~40 ms per
//!    request; in this process, ~50 µs a request, so its ratios are the proxy's own per-event
//!    cost), for a **real Python MCP server** (`python_backend`: the official SDK's FastMCP,
//!    SSE answers, a child process, at c=1 and 8, when a Python with `mcp` is there: issue 13's
//!    goal, gateway ≥ 90 % of direct req/s at c=1, is judged on it), and, when `nginx` is
//!    installed, every backend through a private **nginx** as a plain reverse proxy (the floor
//!    of one more hop; its workers' CPU read from `/proc`), `--repeat N` times, interleaved;
//!    the ratios of issue 13 as medians over the repetitions;
//! 2. a cold-cache stampede: the user context of the login's grant is dropped, then `N`
//!    concurrent requests (connections already open, released together) → userinfo calls seen
//!    by the IdP (must be 1);
//! 3. memory: `U` more grants + access tokens inserted in SQL, each user context then loaded
//!    and cached by one real gateway request per token → VmRSS before/after;
//! 4. throughput at concurrency 64 round-robin over those `U` tokens (every request a different
//!    user, the shape of a busy multi-user gateway).
//!
//! Drops the scratch database and stops nginx and the Python server at the end. Writes nothing
//! else (nginx's configuration and the Python server's log live in the temporary directory and
//! are removed with them).
//!
//! `cargo run --release --example gateway_bench -- [--duration S] [--warmup S] [--users N]
//!  [--stampede N] [--userinfo-delay-ms MS] [--repeat N] [--skip-memory]
//!  [--only fast|sse|python]`: `--skip-memory` leaves out parts 3 and 4 (minutes with 100,000
//! users), `--only` measures one backend in part 1, for quick A/B runs.
//! `GATEWAY_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) names
//! the server, loopback only; `GATEWAY_BENCH_PYTHON` the interpreter for the Python server
//! (`bench/gateway.sh` sets it to its virtualenv's; default `python3`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failed assumption should stop it loudly; the lint fence is for src/"
)]

#[path = "gateway_bench/cases.rs"]
mod cases;
#[path = "common/bridge.rs"]
mod common;
#[path = "gateway_bench/load.rs"]
mod load;
#[path = "gateway_bench/memory.rs"]
mod memory;
#[path = "gateway_bench/nginx.rs"]
mod nginx;
#[path = "gateway_bench/pinning.rs"]
mod pinning;
#[path = "gateway_bench/population.rs"]
mod population;
#[path = "gateway_bench/python_backend.rs"]
mod python_backend;
#[path = "gateway_bench/python_report.rs"]
mod python_report;
#[path = "gateway_bench/report.rs"]
mod report;
#[path = "gateway_bench/setup.rs"]
mod setup;
#[path = "gateway_bench/sse_backend.rs"]
mod sse_backend;
// The test suite's fake IdP, as is; the benchmark uses a part of its API. Only it, not the
// whole `tests/support`, so that the example's own unit tests build (`cargo test --example
// gateway_bench`): the rest of it needs the bridge binary, which only integration tests have.
#[allow(unused_imports, dead_code)]
#[path = "../tests/support/fake_idp/mod.rs"]
mod fake_idp;
mod support {
    pub(crate) use super::fake_idp;
}

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cases::{Backend, Case, Path, Upstream};
use load::{Stats, Target};
use pinning::Group;
use report::{find, list, median, over, report_floor, verdict};
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
    /// Repetitions of the shared-layout comparison (direct, gateway, nginx; every backend).
    repeat: usize,
    /// No memory and round-robin part (parts 3 and 4: minutes with 100,000 users), for quick
    /// A/B runs of the comparison.
    skip_memory: bool,
    /// Only this backend in the comparison (the stampede still uses the fast one).
    only: Option<Backend>,
}

/// The flags (the program's arguments without its name).
fn args(flags: impl IntoIterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        duration: 5,
        warmup: 1,
        users: 100_000,
        stampede: 1_000,
        userinfo_delay_ms: 100,
        repeat: 1,
        skip_memory: false,
        only: None,
    };
    let mut it = flags.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--skip-memory" {
            a.skip_memory = true;
            continue;
        }
        let value = it
            .next()
            .context("every flag but --skip-memory takes a value")?;
        match flag.as_str() {
            "--duration" => a.duration = value.parse()?,
            "--warmup" => a.warmup = value.parse()?,
            "--users" => a.users = value.parse()?,
            "--stampede" => a.stampede = value.parse()?,
            "--userinfo-delay-ms" => a.userinfo_delay_ms = value.parse()?,
            "--repeat" => a.repeat = value.parse()?,
            "--only" => a.only = Some(Backend::parse(&value)?),
            other => bail!("unknown flag {other}"),
        }
    }
    if !(1..=600).contains(&a.duration) || a.warmup > 600 || a.users > 1_000_000 {
        bail!("--duration 1..=600, --warmup ..=600, --users ..=1000000");
    }
    if !(1..=10_000).contains(&a.stampede) {
        bail!("--stampede 1..=10000");
    }
    if !(1..=9).contains(&a.repeat) {
        bail!("--repeat 1..=9");
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
    let args = args(std::env::args().skip(1))?;
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
    /// Which repetition of the comparison (0 for the single-run rows).
    rep: usize,
    backend: Backend,
    path: Path,
    name: String,
    concurrency: usize,
    stats: Stats,
    db_per_req: f64,
    cpu_per_req_us: f64,
    /// The proxy's own CPU per request: the bridge's threads, or nginx's workers (`None` for
    /// direct requests).
    proxy_cpu_per_req_us: Option<f64>,
    /// The part of it spent in the kernel (sockets, epoll, futexes).
    proxy_sys_per_req_us: Option<f64>,
    /// The backend's own CPU per request when it runs in a process of its own (the Python
    /// server), whatever the path.
    backend_cpu_per_req_us: Option<f64>,
}

/// The processes started beside this one for the comparison, whose CPU time is read from
/// `/proc` (none for the memory part, which runs after they are stopped).
#[derive(Clone, Copy, Default)]
struct Procs<'a> {
    nginx: Option<&'a nginx::Nginx>,
    python: Option<&'a python_backend::PythonServer>,
}

/// The CPU time (user, system; µs) of the proxy a case goes through, if any.
fn proxy_cpu(threads: &Threads, procs: Procs<'_>, path: Path) -> Option<(u64, u64)> {
    match path {
        Path::Direct => None,
        Path::Gateway => Some(threads.bridge.cpu_micros()),
        Path::Nginx => procs.nginx.map(nginx::Nginx::cpu_micros),
    }
}

/// The CPU time (user + system, µs) of the backend, when it is a process of its own.
fn backend_cpu(procs: Procs<'_>, backend: Backend) -> Option<u64> {
    match backend {
        Backend::Python => procs.python.map(|p| {
            let (user, system) = p.cpu_micros();
            user + system
        }),
        Backend::Fast | Backend::Sse => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    world: &World,
    client: &reqwest::Client,
    args: &Args,
    threads: &Threads,
    procs: Procs<'_>,
    (layout, rep): (Layout, usize),
    case: &Case,
    name: &str,
    concurrency: usize,
) -> anyhow::Result<Row> {
    let before = db_xacts(&world.pool).await?;
    let cpu_before = cpu_micros();
    let proxy_before = proxy_cpu(threads, procs, case.path);
    let backend_before = backend_cpu(procs, case.backend);
    let stats = load::run(
        client,
        &case.target,
        concurrency,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
    )
    .await?;
    let cpu = cpu_micros() - cpu_before;
    let proxy_after = proxy_cpu(threads, procs, case.path);
    let backend_after = backend_cpu(procs, case.backend);
    let after = db_xacts(&world.pool).await?;
    // The warm-up's requests ran too: spread the transactions and CPU over both windows.
    let sent = (stats.rps * (args.warmup + args.duration) as f64).max(1.0);
    let (proxy, proxy_sys) = match (proxy_before, proxy_after) {
        (Some(b), Some(a)) => {
            let user = a.0.saturating_sub(b.0);
            let sys = a.1.saturating_sub(b.1);
            (Some((user + sys) as f64 / sent), Some(sys as f64 / sent))
        }
        _ => (None, None),
    };
    let backend = match (backend_before, backend_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / sent),
        _ => None,
    };
    eprintln!(
        "  {:<6} #{rep} {:<6} {name:<22} c={concurrency:<3} {:>8.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}  CPU {:.0} µs/req (proxy {}, kernel {}; backend {})  load {}",
        layout.name(),
        case.backend.name(),
        stats.rps,
        stats.p50_us,
        stats.p99_us,
        stats.errors,
        cpu as f64 / sent,
        micros(proxy),
        micros(proxy_sys),
        micros(backend),
        load_average()
    );
    Ok(Row {
        layout,
        rep,
        backend: case.backend,
        path: case.path,
        name: name.to_owned(),
        concurrency,
        db_per_req: (after - before - 1) as f64 / sent,
        cpu_per_req_us: cpu as f64 / sent,
        proxy_cpu_per_req_us: proxy,
        proxy_sys_per_req_us: proxy_sys,
        backend_cpu_per_req_us: backend,
        stats,
    })
}

fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

/// The Python MCP server, unless `--only` leaves it out or no Python with the SDK is there
/// (then a message says so, and its row is skipped).
fn start_python(args: &Args) -> anyhow::Result<Option<python_backend::PythonServer>> {
    if args.only.is_some_and(|b| b != Backend::Python) {
        return Ok(None);
    }
    match python_backend::find() {
        Ok(python) => {
            let server = python_backend::PythonServer::start(&python)?;
            eprintln!(
                "Python MCP server (mcp {}, {}) started at {}",
                server.version,
                python.display(),
                server.url
            );
            Ok(Some(server))
        }
        Err(why) => {
            eprintln!(
                "the Python MCP server row is SKIPPED: {why} (bash bench/gateway.sh installs bench/python/requirements.txt into target/bench-venv)"
            );
            Ok(None)
        }
    }
}

/// nginx in front of every upstream, when it is installed (a message otherwise).
fn start_nginx(upstreams: &[Upstream<'_>]) -> anyhow::Result<Option<nginx::Nginx>> {
    let Some(binary) = nginx::find() else {
        eprintln!(
            "nginx not found (PATH, /usr/sbin): the nginx floor is SKIPPED (Debian: apt-get install nginx)"
        );
        return Ok(None);
    };
    let routes: Vec<nginx::Route<'_>> = upstreams
        .iter()
        .map(|up| nginx::Route {
            name: up.backend.name(),
            url: up.url,
            streaming: up.backend != Backend::Fast,
        })
        .collect();
    let n = nginx::Nginx::start(&binary, &routes)?;
    eprintln!(
        "{} started ({} workers) at {}",
        n.version,
        n.workers(),
        n.base
    );
    Ok(Some(n))
}

async fn run(
    args: &Args,
    scratch: &Scratch,
    bridge: &tokio::runtime::Handle,
    threads: &Threads,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // Before the bridge: the Python server's URL is in the bridge's configuration.
    let python = start_python(args)?;
    let python_url = python.as_ref().map(|p| p.url.as_str());
    let capacity = (args.users as u64 + 10_000).max(100_000);
    let world = setup::start(scratch, capacity, bridge, python_url).await?;
    let client = load::client()?;
    let mut upstreams = vec![
        Upstream {
            backend: Backend::Fast,
            url: &world.demo_url,
            server: setup::SERVER,
        },
        Upstream {
            backend: Backend::Sse,
            url: &world.sse_url,
            server: setup::SSE_SERVER,
        },
    ];
    if let Some(url) = python_url {
        upstreams.push(Upstream {
            backend: Backend::Python,
            url,
            server: setup::PYTHON_SERVER,
        });
    }
    // The floor: nginx in front of the same backends, when it is installed.
    let nginx = start_nginx(&upstreams)?;
    let all = cases::build(&world, &client, &upstreams, nginx.as_ref()).await?;
    let gateway = cases::find(&all, Backend::Fast, Path::Gateway)?
        .target
        .clone();
    let token = gateway.tokens[0].clone();
    let (claims, grant) = population::claims_of(&world, &token).await?;
    let cases: Vec<&Case> = all
        .iter()
        .filter(|case| args.only.is_none_or(|b| b == case.backend))
        .collect();
    eprintln!(
        "setup done in {:.1}s ({} logins through the fake IdP, sessions initialized)",
        started.elapsed().as_secs_f64(),
        upstreams.len()
    );

    // 1. Direct vs gateway (vs nginx), warm caches: the shared layout with every case,
    //    `repeat` times, then the split layout with the fast backend's direct and gateway paths.
    let procs = Procs {
        nginx: nginx.as_ref(),
        python: python.as_ref(),
    };
    let mut rows = Vec::new();
    for rep in 0..args.repeat {
        Layout::Shared.apply(threads)?;
        for level in 0..2 {
            for case in &cases {
                let c = case.backend.concurrencies()[level];
                let name = case.path.name();
                let at = (Layout::Shared, rep);
                let row = measure(&world, &client, args, threads, procs, at, case, name, c).await?;
                rows.push(row);
            }
        }
    }
    let mut layouts = vec![Layout::Shared];
    let split: Vec<&&Case> = cases
        .iter()
        .filter(|case| case.backend == Backend::Fast && case.path != Path::Nginx)
        .collect();
    if threads.cpus.len() >= 2 && !split.is_empty() {
        layouts.push(Layout::Split);
        Layout::Split.apply(threads)?;
        for c in [1, HIGH] {
            for case in &split {
                let name = case.path.name();
                let at = (Layout::Split, 0);
                let row = measure(&world, &client, args, threads, procs, at, case, name, c).await?;
                rows.push(row);
            }
        }
    }
    Layout::Shared.apply(threads)?;
    // nginx and the Python server are not needed any more: stop them before the parts that
    // measure the process alone.
    let nginx_version = nginx.as_ref().map(|n| n.version.clone());
    let python_version = python.as_ref().map(|p| p.version.clone());
    drop(nginx);
    drop(python);

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

    // 3. and 4. Memory with `users` cached user contexts, then round-robin over them.
    let memory = if args.skip_memory {
        None
    } else {
        Some(memory::run(&world, &client, args, threads, &claims, grant, &ping).await?)
    };

    // 5. What one ES256 signature costs here (the gateway signs an `X-Auth-Assertion` per
    //    request; an access token is the same shape of JWT).
    let signer = world.state.keys.signer(world.tenant_id).await?;
    let t = Instant::now();
    for _ in 0..SIGNATURES {
        std::hint::black_box(mcp_auth_bridge::tokens::access::sign(&signer, &claims)?);
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURES);
    // The reference, same run: `jsonwebtoken::encode`, which parses the PKCS#8 key (and ring
    // recomputes its public half) on every call — the signer before issue 13.
    let fresh = mcp_auth_bridge::crypto::signing::generate_es256();
    let der = fresh.private_pkcs8_der.expose();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    let t = Instant::now();
    for _ in 0..SIGNATURES {
        let key = jsonwebtoken::EncodingKey::from_ec_der(der);
        std::hint::black_box(jsonwebtoken::encode(&header, &claims, &key)?);
    }
    let reference_sign_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURES);

    // The report.
    println!();
    println!(
        "Gateway benchmark: tools/call echo, {} s measured after {} s warm-up, {} CPUs, everything but nginx in one process (load average now {}); shared-layout comparison repeated {} time(s), interleaved",
        args.duration,
        args.warmup,
        threads.cpus.len(),
        load_average(),
        args.repeat
    );
    println!(
        "backends: fast = the demo MCP server (JSON, one write); sse = a streaming MCP-like backend ({} SSE events, each written on its own)",
        sse_backend::EVENTS
    );
    match &nginx_version {
        Some(v) => println!(
            "nginx floor: {v}, plain reverse proxy (no auth; keep-alive upstreams; proxy_buffering off for sse; worker_processes auto)"
        ),
        None => println!("nginx floor: SKIPPED (nginx is not installed)"),
    }
    match &python_version {
        Some(v) => println!(
            "python = the official MCP Python SDK's server (mcp {v}; FastMCP, MCPServer since mcp 2): bench/python/echo_server.py, streamable HTTP, stateful sessions, SSE answers; a process of its own, measured at c=1 and c={}",
            cases::PYTHON_HIGH
        ),
        None => println!(
            "python: SKIPPED (no Python with the mcp SDK, or --only; see the message at start)"
        ),
    }
    println!();
    println!(
        "| layout | rep | backend | path | concurrency | requests | req/s | p50 µs | p99 µs | errors | CPU µs/req, this process | proxy CPU µs/req (kernel) | DB xacts/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows
        .iter()
        .chain(memory.iter().flat_map(|m| [&m.warm_row, &m.row]))
    {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {} ({}) | {:.3} |",
            r.layout.name(),
            r.rep + 1,
            r.backend.name(),
            r.name,
            r.concurrency,
            r.stats.requests,
            r.stats.rps,
            r.stats.p50_us,
            r.stats.p99_us,
            r.stats.errors,
            r.cpu_per_req_us,
            micros(r.proxy_cpu_per_req_us),
            micros(r.proxy_sys_per_req_us),
            r.db_per_req
        );
    }
    println!(
        "(nginx runs in processes of its own: its CPU is in the proxy column only; the bridge's threads are part of this process)"
    );
    for &layout in &layouts {
        let reps = if layout == Layout::Shared {
            args.repeat
        } else {
            1
        };
        let row = |rep, path, c| find(&rows, layout, rep, Backend::Fast, path, c);
        let added = over(reps, |rep| {
            Some(row(rep, Path::Gateway, 1)?.stats.p50_us - row(rep, Path::Direct, 1)?.stats.p50_us)
        });
        let ratio = over(reps, |rep| {
            Some(row(rep, Path::Gateway, HIGH)?.stats.rps / row(rep, Path::Direct, HIGH)?.stats.rps)
        });
        let bridge_cpu = over(reps, |rep| {
            row(rep, Path::Gateway, HIGH)?.proxy_cpu_per_req_us
        });
        let (Some(added_m), Some(ratio_m), Some(cpu_m)) =
            (median(&added), median(&ratio), median(&bridge_cpu))
        else {
            continue;
        };
        println!();
        println!("{} layout, fast backend (median of {reps}):", layout.name());
        println!(
            "  added median latency (c=1): {} µs (target < 150 µs: {})",
            list(&added, 1.0),
            verdict(added_m < 150.0)
        );
        println!(
            "  gateway/direct throughput (c=64): {} % (target ≥ 60 %: {})",
            list(&ratio, 100.0),
            verdict(ratio_m >= 0.6)
        );
        println!(
            "  the bridge's own CPU per request (c=64): {} µs (≈ {:.0} req/s per dedicated CPU)",
            list(&bridge_cpu, 1.0),
            1e6 / cpu_m.max(1.0)
        );
    }
    report_floor(&rows, args.repeat, nginx_version.is_some());
    python_report::report(&rows, args.repeat, nginx_version.is_some());
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
    match &memory {
        Some(m) => m.report(args.users),
        None => println!("memory and round-robin: SKIPPED (--skip-memory)"),
    }
    println!(
        "one ES256 JWT signature: {sign_us:.0} µs with the key pair parsed once (the bridge's signer); reference, jsonwebtoken::encode parsing the PKCS#8 key on every call: {reference_sign_us:.0} µs; ratio {:.2}",
        sign_us / reference_sign_us
    );
    println!("total {:.0}s", started.elapsed().as_secs_f64());
    world.pool.close().await;
    Ok(())
}

fn histogram(statuses: &[u16]) -> std::collections::BTreeMap<u16, usize> {
    let mut h = std::collections::BTreeMap::new();
    for s in statuses {
        *h.entry(*s).or_insert(0) += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> anyhow::Result<Args> {
        args(flags.iter().map(|f| (*f).to_owned()))
    }

    #[test]
    fn skip_memory_takes_no_value_and_only_names_one_backend() {
        let a = parse(&["--skip-memory", "--repeat", "2", "--only", "python"]).unwrap();
        assert!(a.skip_memory);
        assert_eq!(a.repeat, 2);
        assert_eq!(a.only, Some(Backend::Python));
        let a = parse(&[]).unwrap();
        assert!(!a.skip_memory);
        assert_eq!(a.only, None);
        assert!(parse(&["--only", "nginx"]).is_err());
        assert!(parse(&["--only"]).is_err());
    }

    #[test]
    fn the_python_backend_is_measured_at_a_lower_high_concurrency() {
        assert_eq!(Backend::Fast.concurrencies(), [1, HIGH]);
        assert_eq!(Backend::Python.concurrencies(), [1, cases::PYTHON_HIGH]);
    }
}
