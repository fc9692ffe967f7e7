//! The summaries after the table: issue 13's ratios, each computed within one repetition of
//! the shared-layout comparison, then the median over the repetitions (with each repetition's
//! value beside it, so the spread shows), and a verdict against each goal.

use crate::{
    HIGH, Layout, Row,
    cases::{Backend, Path},
    sse_backend,
};

/// A Nagle stall costs ~40 ms (the client's delayed ACK); anything near it at c=1 is one.
pub const NAGLE_SUSPECT_US: f64 = 20_000.0;

/// The ratios of issue 13's table (shared layout), each computed within one repetition, then
/// the median over the repetitions.
pub fn report_floor(rows: &[Row], reps: usize, with_nginx: bool) {
    let row = |rep, backend, path, c| find(rows, Layout::Shared, rep, backend, path, c);
    let rps = |rep, backend, path, c| row(rep, backend, path, c).map(|r: &Row| r.stats.rps);
    let p50 = |rep, backend, path, c| row(rep, backend, path, c).map(|r: &Row| r.stats.p50_us);
    let ratio = |backend, a, b, c| {
        over(reps, move |rep| {
            Some(rps(rep, backend, a, c)? / rps(rep, backend, b, c)?)
        })
    };
    let (fast, sse) = (Backend::Fast, Backend::Sse);
    let (direct, gateway, nginx) = (Path::Direct, Path::Gateway, Path::Nginx);

    let has = |backend| rows.iter().any(|r: &Row| r.backend == backend);
    if has(sse) {
        report_sse(rows, reps, with_nginx);
    }
    if !with_nginx {
        println!("nginx floor: SKIPPED (nginx is not installed)");
        return;
    }
    println!();
    println!("Gateway vs nginx (the floor of one more hop), shared layout, median of {reps}:");
    for backend in [fast, sse].into_iter().filter(|b| has(*b)) {
        let added = |path| {
            over(reps, move |rep| {
                Some(p50(rep, backend, path, 1)? - p50(rep, backend, direct, 1)?)
            })
        };
        let (ga, na) = (added(gateway), added(nginx));
        let times = over(reps, |rep| {
            let g = p50(rep, backend, gateway, 1)? - p50(rep, backend, direct, 1)?;
            let n = p50(rep, backend, nginx, 1)? - p50(rep, backend, direct, 1)?;
            Some(g / n)
        });
        let gn = ratio(backend, gateway, nginx, HIGH);
        let cpu = |path| {
            over(reps, move |rep| {
                row(rep, backend, path, HIGH)?.proxy_cpu_per_req_us
            })
        };
        let (gc, nc) = (cpu(gateway), cpu(nginx));
        let cpu_times = over(reps, |rep| {
            Some(
                row(rep, backend, gateway, HIGH)?.proxy_cpu_per_req_us?
                    / row(rep, backend, nginx, HIGH)?.proxy_cpu_per_req_us?,
            )
        });
        println!("  {} backend:", backend.name());
        println!(
            "    added p50 at c=1 over direct: gateway {} µs, nginx {} µs → gateway/nginx {}× (goal ≤ 2×: {})",
            list(&ga, 1.0),
            list(&na, 1.0),
            list_f(&times),
            verdict(median(&times).is_some_and(|m| m <= 2.0))
        );
        println!(
            "    throughput at c=64: gateway/direct {} %, nginx/direct {} %, gateway/nginx {} % (goal ≥ 80 %: {})",
            list(&ratio(backend, gateway, direct, HIGH), 100.0),
            list(&ratio(backend, nginx, direct, HIGH), 100.0),
            list(&gn, 100.0),
            verdict(median(&gn).is_some_and(|m| m >= 0.8))
        );
        println!(
            "    proxy CPU per request at c=64: gateway (the bridge's threads) {} µs, nginx (its workers) {} µs → {}× (goal ≤ 1.5×: {})",
            list(&gc, 1.0),
            list(&nc, 1.0),
            list_f(&cpu_times),
            verdict(median(&cpu_times).is_some_and(|m| m <= 1.5))
        );
    }
}

/// The streaming backend's figures. Its gateway/direct ratio is information, not the goal: the
/// backend answers in ~50 µs in this process, so the ratio is the proxy's own per-event cost;
/// issue 13's 90 % goal is judged on the Python row ([`python_report`]).
pub fn report_sse(rows: &[Row], reps: usize, with_nginx: bool) {
    let row = |rep, backend, path, c| find(rows, Layout::Shared, rep, backend, path, c);
    let rps = |rep, backend, path, c| row(rep, backend, path, c).map(|r: &Row| r.stats.rps);
    let p50 = |rep, backend, path, c| row(rep, backend, path, c).map(|r: &Row| r.stats.p50_us);
    let ratio = |backend, a, b, c| {
        over(reps, move |rep| {
            Some(rps(rep, backend, a, c)? / rps(rep, backend, b, c)?)
        })
    };
    let sse = Backend::Sse;
    let (direct, gateway, nginx) = (Path::Direct, Path::Gateway, Path::Nginx);
    println!();
    println!(
        "Streaming backend (sse: {} events, each its own write, in this process), shared layout, median of {reps}:",
        sse_backend::EVENTS
    );
    for c in [1, HIGH] {
        let g = over(reps, |rep| p50(rep, sse, gateway, c));
        let d = over(reps, |rep| p50(rep, sse, direct, c));
        let gd = ratio(sse, gateway, direct, c);
        println!(
            "  c={c}: p50 direct {} µs, gateway {} µs; gateway/direct req/s {} %{}",
            list(&d, 1.0),
            list(&g, 1.0),
            list(&gd, 100.0),
            if c == 1 {
                " (information: ~50 µs per request here, so this is the proxy's own per-event cost; the 90 % goal is on the Python row)"
            } else {
                ""
            }
        );
        if with_nginx {
            let n = over(reps, |rep| p50(rep, sse, nginx, c));
            println!(
                "        nginx: p50 {} µs, nginx/direct req/s {} %",
                list(&n, 1.0),
                list(&ratio(sse, nginx, direct, c), 100.0)
            );
        }
    }
    let stalled =
        median(&over(reps, |rep| p50(rep, sse, gateway, 1))).is_some_and(|p| p >= NAGLE_SUSPECT_US);
    if stalled {
        println!(
            "  NAGLE STALL: the gateway's median at c=1 is ≥ {} ms on a backend that answers in several writes: each later write waits for the client's delayed ACK (~40 ms). Is TCP_NODELAY set on accepted sockets (src/serve.rs)?",
            NAGLE_SUSPECT_US / 1000.0
        );
    } else {
        println!(
            "  no Nagle stall (a response written in several pieces would wait ~40 ms for the client's delayed ACK without TCP_NODELAY)"
        );
    }
}

pub fn find(
    rows: &[Row],
    layout: Layout,
    rep: usize,
    backend: Backend,
    path: Path,
    c: usize,
) -> Option<&Row> {
    rows.iter().find(|r| {
        r.layout == layout
            && r.rep == rep
            && r.backend == backend
            && r.path == path
            && r.concurrency == c
            && r.name == path.name()
    })
}

/// The values `f` gives for each repetition that has them.
pub fn over(reps: usize, f: impl Fn(usize) -> Option<f64>) -> Vec<f64> {
    (0..reps).filter_map(f).collect()
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// "median (each, …)" with `scale` applied, whole numbers.
pub fn list(values: &[f64], scale: f64) -> String {
    let Some(m) = median(values) else {
        return "–".into();
    };
    let each: Vec<String> = values.iter().map(|v| format!("{:.0}", v * scale)).collect();
    if values.len() > 1 {
        format!("{:.0} ({})", m * scale, each.join(", "))
    } else {
        format!("{:.0}", m * scale)
    }
}

/// Like [`list`], two decimals (ratios).
pub fn list_f(values: &[f64]) -> String {
    let Some(m) = median(values) else {
        return "–".into();
    };
    let each: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    if values.len() > 1 {
        format!("{m:.2} ({})", each.join(", "))
    } else {
        format!("{m:.2}")
    }
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
