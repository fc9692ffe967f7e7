//! Parts 3 and 4 of the benchmark: `U` more grants and access tokens, each user context loaded
//! and cached by one real gateway request per token (VmRSS before and after), then throughput
//! at concurrency 64 round-robin over those tokens (every request a different user, the shape
//! of a busy multi-user gateway). Minutes with 100,000 users, hence `--skip-memory`.

use std::{sync::Arc, time::Instant};

use mcp_auth_bridge::tokens::access::AccessClaims;
use uuid::Uuid;

use crate::{
    Args, HIGH, Layout, Procs, Row, Threads, WARM_LIMIT,
    cases::{Backend, Case, Path},
    load::{self, Target},
    population, rss_kib,
    setup::World,
};

pub struct Memory {
    sent: usize,
    failed: usize,
    userinfo_calls: u64,
    warm_secs: f64,
    users: (u64, u64),
    verified: (u64, u64),
    rss_kib: (u64, u64),
    /// The round-robin throughput row.
    pub row: Row,
    /// The same request on the single warm token, measured just before the round-robin row:
    /// the reference of its ratio (goal ≥ 0.5), taken minutes after the comparison's rows, when
    /// the machine may run faster or slower than it did then.
    pub warm_row: Row,
}

/// `ping`: the gateway target (the fast backend, the login's token) the warming requests use.
pub async fn run(
    world: &World,
    client: &reqwest::Client,
    args: &Args,
    threads: &Threads,
    claims: &AccessClaims,
    grant: Uuid,
    ping: &Target,
) -> anyhow::Result<Memory> {
    let t = Instant::now();
    let tokens = population::populate(world, claims, grant, args.users).await?;
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
    gw.tokens.run_pending_tasks().await;
    let (users_before, verified_before) = (gw.users.entry_count(), gw.tokens.entry_count());
    let rss_before = rss_kib();
    let userinfo_before = world.idp.counters().userinfo;
    let t = Instant::now();
    let (sent, failed) = load::each_once(client, &many, HIGH, WARM_LIMIT).await?;
    let warm_secs = t.elapsed().as_secs_f64();
    let userinfo_calls = world.idp.counters().userinfo - userinfo_before;
    gw.tokens.run_pending_tasks().await;
    let rss_after = rss_kib();
    let (users_after, verified_after) = (gw.users.entry_count(), gw.tokens.entry_count());

    // Many users at concurrency 64 (caches warm; token states expire after 1 s).
    let many_echo = Case {
        backend: Backend::Fast,
        path: Path::Gateway,
        target: Target {
            body: load::ECHO,
            ..many
        },
    };
    let at = (Layout::Shared, 0);
    let procs = Procs::default();
    let warm_echo = Case {
        backend: Backend::Fast,
        path: Path::Gateway,
        target: Target {
            body: load::ECHO,
            ..ping.clone()
        },
    };
    let warm_row = crate::measure(
        world,
        client,
        args,
        threads,
        procs,
        at,
        &warm_echo,
        "gateway, 1 warm token",
        HIGH,
    )
    .await?;
    let name = format!("gateway, {} users", args.users);
    let row = crate::measure(
        world, client, args, threads, procs, at, &many_echo, &name, HIGH,
    )
    .await?;
    Ok(Memory {
        sent,
        failed,
        userinfo_calls,
        warm_secs,
        users: (users_before, users_after),
        verified: (verified_before, verified_after),
        rss_kib: (rss_before, rss_after),
        row,
        warm_row,
    })
}

impl Memory {
    pub fn report(&self, users: usize) {
        let (rss_before, rss_after) = self.rss_kib;
        let delta_kib = rss_after.saturating_sub(rss_before);
        println!(
            "memory: {} user contexts loaded through the gateway ({} requests, {} failed, {} userinfo calls, {:.1}s, {:.0} req/s)",
            users,
            self.sent,
            self.failed,
            self.userinfo_calls,
            self.warm_secs,
            self.sent as f64 / self.warm_secs
        );
        println!(
            "        cached user contexts {} → {}, verified tokens {} → {}",
            self.users.0, self.users.1, self.verified.0, self.verified.1
        );
        println!(
            "        VmRSS {:.1} MiB → {:.1} MiB: +{:.1} MiB, {:.0} bytes per user",
            rss_before as f64 / 1024.0,
            rss_after as f64 / 1024.0,
            delta_kib as f64 / 1024.0,
            (delta_kib * 1024) as f64 / users.max(1) as f64
        );
        let ratio = self.row.stats.rps / self.warm_row.stats.rps.max(1.0);
        println!(
            "round-robin over {users} tokens at c={}: {:.0} req/s, the single warm token just before: {:.0} req/s → {ratio:.2}× (goal ≥ 0.5×: {})",
            self.row.concurrency,
            self.row.stats.rps,
            self.warm_row.stats.rps,
            crate::verdict(ratio >= 0.5)
        );
    }
}
