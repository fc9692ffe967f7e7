//! Heap allocations per proxied request in the bridge (issue 13, item 2): a measure of the
//! gateway's per-request work that a busy, shared machine does not move, unlike its CPU time.
//!
//! The same world as `gateway_bench` (its setup module, as is): a scratch database, the fake
//! IdP, the demo MCP server, a real login. The bridge runs on a runtime of its own whose threads
//! are marked; a counting allocator (around mimalloc, the binary's allocator) counts the
//! allocations, reallocations and bytes asked for on the marked threads only, so the load
//! generator and the MCP server are not counted. Then `tools/call echo` through the gateway,
//! one request at a time (the count is then the same from run to run), warm caches: a warm-up,
//! then `--rounds` rounds of `--requests` requests, each round's count per request printed.
//!
//! `--backtraces N` then prints where each allocation of `N` more requests came from (the
//! first frames of its backtrace), to find what to remove.
//!
//! `--subscriber info` installs a JSON log subscriber writing to a sink at that level (as the
//! service runs: its request span is then recorded); without it no subscriber is installed, as
//! in `gateway_bench`.
//!
//! `cargo run --release --example gateway_allocs -- [--requests N] [--rounds N]
//!  [--subscriber LEVEL] [--backtraces N]`; `GATEWAY_BENCH_DATABASE_URL` names the Postgres server (loopback).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failed assumption should stop it loudly; the lint fence is for src/"
)]

#[path = "common/bridge.rs"]
mod common;
#[allow(dead_code)]
#[path = "gateway_bench/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "gateway_bench/setup.rs"]
mod setup;
#[allow(dead_code)]
#[path = "gateway_bench/sse_backend.rs"]
mod sse_backend;
#[allow(unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    alloc::{GlobalAlloc, Layout},
    cell::Cell,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;

/// Counts what the marked threads allocate, then lets mimalloc do it.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread is one of the bridge's.
    static BRIDGE: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread records a backtrace (which allocates).
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// While set, each counted allocation's backtrace is kept (`--backtraces`).
static RECORD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static RECORDED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn counted() -> bool {
    let counted = BRIDGE.try_with(Cell::get).unwrap_or(false);
    if counted && RECORD.load(Ordering::Relaxed) {
        record_backtrace();
    }
    counted
}

/// Keeps the current backtrace, its allocator frames left out.
fn record_backtrace() {
    if TRACING.try_with(|t| t.replace(true)).unwrap_or(true) {
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let frames: Vec<&str> = trace
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("at "))
        .filter(|l| {
            ![
                "backtrace",
                "gateway_allocs::",
                "alloc::",
                "__rust",
                "core::ops::function",
            ]
            .iter()
            .any(|skip| l.contains(skip))
        })
        .take(8)
        .collect();
    if let Ok(mut recorded) = RECORDED.lock() {
        recorded.push(frames.join("\n    "));
    }
    let _ = TRACING.try_with(|t| t.set(false));
}

// SAFETY: every call is passed to mimalloc unchanged; counting touches no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(
                new_size.saturating_sub(layout.size()) as u64,
                Ordering::Relaxed,
            );
        }
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Args {
    requests: usize,
    rounds: usize,
    subscriber: Option<String>,
    /// Print where the allocations of this many more requests come from.
    backtraces: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        requests: 5_000,
        rounds: 3,
        subscriber: None,
        backtraces: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("every flag takes a value")?;
        match flag.as_str() {
            "--requests" => a.requests = value.parse()?,
            "--rounds" => a.rounds = value.parse()?,
            "--subscriber" => a.subscriber = Some(value),
            "--backtraces" => a.backtraces = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if !(1..=1_000_000).contains(&a.requests) || !(1..=20).contains(&a.rounds) {
        bail!("--requests 1..=1000000, --rounds 1..=20");
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    if let Some(level) = &args.subscriber {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::try_new(level)?)
            .with_writer(std::io::sink)
            .init();
    }
    let bridge = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bridge")
        .on_thread_start(|| BRIDGE.with(|b| b.set(true)))
        .enable_all()
        .build()?;
    let rest = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rest.block_on(async {
        let scratch = setup::Scratch::create().await?;
        let outcome = run(&args, &scratch, bridge.handle()).await;
        scratch.drop_now().await?;
        outcome
    })?;
    bridge.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

async fn run(
    args: &Args,
    scratch: &setup::Scratch,
    bridge: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let world = setup::start(scratch, 10_000, bridge, None).await?;
    let token = setup::login(&world, setup::SERVER).await?;
    let client = load::client()?;
    let url = world.gateway_url(setup::SERVER);
    let session = setup::initialize(&client, &url, Some(&token)).await?;
    let target = load::Target {
        url,
        session,
        tokens: Arc::new(vec![token]),
        body: load::ECHO,
    };
    let headers = target.headers()?;
    let send = |n: usize| {
        let (client, target, headers) = (&client, &target, &headers);
        async move {
            for _ in 0..n {
                let response = client
                    .post(&target.url)
                    .headers(headers.clone())
                    .bearer_auth(&target.tokens[0])
                    .body(Bytes::from_static(target.body.as_bytes()))
                    .send()
                    .await?;
                ensure!(
                    response.status() == 200,
                    "gateway answered {}",
                    response.status()
                );
                response.bytes().await?;
            }
            anyhow::Ok(())
        }
    };
    send(1_000).await?;
    println!(
        "requests per round: {}; subscriber: {}",
        args.requests,
        args.subscriber.as_deref().unwrap_or("none")
    );
    for round in 1..=args.rounds {
        let before = [&ALLOCS, &REALLOCS, &BYTES].map(|c| c.load(Ordering::Relaxed));
        let started = Instant::now();
        send(args.requests).await?;
        let elapsed = started.elapsed();
        let after = [&ALLOCS, &REALLOCS, &BYTES].map(|c| c.load(Ordering::Relaxed));
        let per = |i: usize| (after[i] - before[i]) as f64 / args.requests as f64;
        println!(
            "round {round}: {:.2} allocations, {:.2} reallocations, {:.0} bytes per request \
             ({:.0} µs per request end to end)",
            per(0),
            per(1),
            per(2),
            elapsed.as_secs_f64() * 1e6 / args.requests as f64
        );
    }
    if args.backtraces > 0 {
        RECORD.store(true, Ordering::SeqCst);
        send(args.backtraces).await?;
        RECORD.store(false, Ordering::SeqCst);
        let recorded = std::mem::take(&mut *RECORDED.lock().unwrap());
        println!(
            "{} allocations in {} requests:",
            recorded.len(),
            args.backtraces
        );
        for trace in recorded {
            println!("  {trace}");
        }
    }
    Ok(())
}
