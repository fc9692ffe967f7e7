//! The row of issue 13's table about a real Python MCP server behind the gateway: req/s, p50,
//! p99 and proxy CPU per request for each path, and the goal, gateway ≥ 90 % of direct
//! req/s at c=1, next to the same ratio for nginx. nginx checks nothing, so when nginx itself
//! stays below 90 %, one more loopback hop costs more than that on this machine, and no proxy
//! can meet the goal here: the report says so rather than blame the gateway.

use crate::{
    Layout, Row,
    cases::{Backend, PYTHON_HIGH, Path},
    micros,
    report::{NAGLE_SUSPECT_US, find, list, median, over, verdict},
};

/// The goal: gateway/direct req/s at c=1.
const GOAL: f64 = 0.9;

pub fn report(rows: &[Row], reps: usize, with_nginx: bool) {
    let python = Backend::Python;
    if !rows.iter().any(|r| r.backend == python) {
        return;
    }
    let row = |rep, path, c| find(rows, Layout::Shared, rep, python, path, c);
    let each = |path, c, f: fn(&Row) -> Option<f64>| over(reps, move |rep| f(row(rep, path, c)?));
    let ratio = |a, c| {
        over(reps, move |rep| {
            Some(row(rep, a, c)?.stats.rps / row(rep, Path::Direct, c)?.stats.rps)
        })
    };
    let mut paths = vec![Path::Direct, Path::Gateway];
    if with_nginx {
        paths.push(Path::Nginx);
    }
    println!();
    println!(
        "Python MCP server (the mcp SDK's FastMCP/MCPServer, SSE answers, its own process), shared layout, median of {reps}:"
    );
    for c in [1, PYTHON_HIGH] {
        println!("  c={c}:");
        for &path in &paths {
            println!(
                "    {:<7} {} req/s, p50 {} µs, p99 {} µs; proxy CPU {} µs/req; the Python server's CPU {} µs/req",
                path.name(),
                list(&each(path, c, |r| Some(r.stats.rps)), 1.0),
                list(&each(path, c, |r| Some(r.stats.p50_us)), 1.0),
                list(&each(path, c, |r| Some(r.stats.p99_us)), 1.0),
                micros(median(&each(path, c, |r| r.proxy_cpu_per_req_us))),
                micros(median(&each(path, c, |r| r.backend_cpu_per_req_us))),
            );
        }
    }
    let gateway = ratio(Path::Gateway, 1);
    println!(
        "  gateway/direct req/s at c=1: {} % (issue 13's goal ≥ {:.0} %: {})",
        list(&gateway, 100.0),
        GOAL * 100.0,
        verdict(median(&gateway).is_some_and(|m| m >= GOAL))
    );
    if with_nginx {
        let nginx = ratio(Path::Nginx, 1);
        let floor_below = median(&nginx).is_some_and(|m| m < GOAL);
        println!(
            "  nginx/direct req/s at c=1 (the floor of one more hop): {} %{}",
            list(&nginx, 100.0),
            if floor_below {
                " — below 90 % itself: that is this machine's ceiling for any proxy, the gateway's ratio is to be read against it"
            } else {
                ""
            }
        );
    } else {
        println!("  nginx floor: SKIPPED (nginx is not installed)");
    }
    println!(
        "  at c={PYTHON_HIGH} (information): gateway/direct {} %{}",
        list(&ratio(Path::Gateway, PYTHON_HIGH), 100.0),
        if with_nginx {
            format!(
                ", nginx/direct {} %",
                list(&ratio(Path::Nginx, PYTHON_HIGH), 100.0)
            )
        } else {
            String::new()
        }
    );
    let p50 = median(&each(Path::Gateway, 1, |r| Some(r.stats.p50_us)));
    if p50.is_some_and(|p| p >= NAGLE_SUSPECT_US) {
        println!(
            "  NAGLE STALL: the gateway's median at c=1 is ≥ {} ms: the SDK writes an answer in several pieces, each later one waiting for the client's delayed ACK (~40 ms) without TCP_NODELAY",
            NAGLE_SUSPECT_US / 1000.0
        );
    }
}
