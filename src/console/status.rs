//! `GET /admin/console/status`: the database, each upstream IdP (grants by state, last
//! successful refresh, refresh error rates from the metrics), active grants per tenant, and the
//! last hour of requests and upstream calls as small SVG charts drawn on the server.
//!
//! The charts come from a minute-by-minute history of this replica's counters ([`History`]),
//! sampled from its own Prometheus registry by a task that ends with the router.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use axum::{
    Extension,
    extract::State,
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::PrometheusHandle;

use super::{api, operator, render};
use crate::{pages::escape, services::Services, store, telemetry::request_id::RequestId};

/// Minutes of history kept.
const MINUTES: usize = 60;

/// Counter totals at one minute.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    requests: f64,
    mcp_upstream: f64,
    idp_refreshes: f64,
}

/// The last hour of samples of this replica's counters.
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<VecDeque<Sample>>>);

impl History {
    /// A history fed every minute from `metrics` until the history is dropped.
    pub fn sampled(metrics: PrometheusHandle) -> Self {
        let history = Self::default();
        let weak: Weak<Mutex<VecDeque<Sample>>> = Arc::downgrade(&history.0);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    let Some(samples) = weak.upgrade() else { break };
                    let sample = sample(&metrics.render());
                    if let Ok(mut q) = samples.lock() {
                        q.push_back(sample);
                        while q.len() > MINUTES + 1 {
                            q.pop_front();
                        }
                    }
                }
            });
        }
        history
    }

    /// Per-minute increases of each series (oldest first), the last one the minute so far.
    fn rates(&self, now: Sample) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut samples: Vec<Sample> = self
            .0
            .lock()
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default();
        samples.push(now);
        let diff = |f: fn(&Sample) -> f64| -> Vec<f64> {
            samples
                .windows(2)
                .map(|w| match w {
                    [a, b] => (f(b) - f(a)).max(0.0),
                    _ => 0.0,
                })
                .collect()
        };
        (
            diff(|s| s.requests),
            diff(|s| s.mcp_upstream),
            diff(|s| s.idp_refreshes),
        )
    }
}

fn sample(text: &str) -> Sample {
    Sample {
        requests: sum(text, "http_requests_total"),
        mcp_upstream: sum(text, "gateway_upstream_requests_total"),
        idp_refreshes: sum(text, "upstream_refresh_total"),
    }
}

/// The sum of a counter's series in Prometheus text, optionally grouped by one label.
fn series(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value: f64 = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let key = format!("{label}=\"");
        let group = rest
            .find(&key)
            .and_then(|i| rest.get(i + key.len()..))
            .and_then(|v| v.split('"').next())
            .unwrap_or("")
            .to_owned();
        *out.entry(group).or_insert(0.0) += value;
    }
    out
}

fn sum(text: &str, name: &str) -> f64 {
    series(text, name, "").values().sum()
}

/// Refresh outcomes that are failures.
const FAILED: [&str; 4] = [
    "needs_reauth",
    "unavailable",
    "error",
    "database_unavailable",
];

pub async fn page(
    State(state): State<Services>,
    Extension(history): Extension<History>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
) -> Response {
    let op = match operator(&state, &headers, request_id.map(|Extension(r)| r)) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    // The tenants this token may see, as the API says: the rest of the page keeps to them.
    let tenants = api::call(
        &state,
        &op.token,
        Method::GET,
        "/tenants",
        None,
        op.request_id.as_ref(),
    )
    .await;
    if !tenants.ok() {
        return render::page(
            tenants.status,
            "Status",
            &op.csrf,
            &render::problem(&tenants),
        );
    }
    let visible: HashSet<String> = tenants
        .items()
        .iter()
        .map(|t| render::text(t, "slug").to_owned())
        .collect();
    let database = match store::health::check(&state.pool).await {
        Ok(()) => "<span>ready</span>".to_owned(),
        Err(e) => format!(
            "<span class=\"warn\">not ready: {}</span>",
            escape(&format!("{e:?}"))
        ),
    };
    let mut body = format!(
        "<h1>Status</h1><div class=\"card\"><dl><dt>Database</dt><dd>{database}</dd></dl></div>"
    );
    body.push_str(&providers(&state, &visible).await);
    let metrics = state.metrics.render();
    body.push_str(&refresh_rates(&metrics));
    let (requests, mcp, idp) = history.rates(sample(&metrics));
    body.push_str("<h2>The last hour on this replica (per minute)</h2>");
    body.push_str(&chart("HTTP requests", &requests));
    body.push_str(&chart("Requests to MCP servers", &mcp));
    body.push_str(&chart("Upstream IdP token refreshes", &idp));
    render::page(StatusCode::OK, "Status", &op.csrf, &body)
}

async fn providers(state: &Services, visible: &HashSet<String>) -> String {
    let rows = match store::grant_usage::provider_health(&state.pool).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "status page: cannot read provider health");
            return "<p class=\"warn\">The database did not answer.</p>".into();
        }
    };
    let mut per_tenant: BTreeMap<&str, i64> = BTreeMap::new();
    let mut table = String::from(
        "<h2>Upstream identity providers</h2><div class=\"table\"><table><thead><tr><th scope=\"col\">Tenant</th><th scope=\"col\">Provider</th><th scope=\"col\">Kind</th><th scope=\"col\">Active grants</th><th scope=\"col\">Need sign-in again</th><th scope=\"col\">Refresh failing</th><th scope=\"col\">Last refresh</th></tr></thead><tbody>",
    );
    for r in rows.iter().filter(|r| visible.contains(&r.tenant)) {
        *per_tenant.entry(&r.tenant).or_insert(0) += r.active_grants;
        table.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.tenant),
            escape(&r.provider),
            escape(&r.kind),
            r.active_grants,
            r.needs_reauth,
            r.failing_refreshes,
            r.last_refreshed_at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "never".into()),
        ));
    }
    table.push_str(
        "</tbody></table></div><h2>Active grants per tenant</h2><div class=\"card\"><dl>",
    );
    for (tenant, n) in per_tenant {
        table.push_str(&format!("<dt>{}</dt><dd>{n}</dd>", escape(tenant)));
    }
    table.push_str("</dl></div>");
    table
}

fn refresh_rates(metrics: &str) -> String {
    let mut by_kind: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("upstream_refresh_total{"))
    {
        let kind = series(line, "upstream_refresh_total", "provider");
        let outcome = series(line, "upstream_refresh_total", "outcome");
        for ((k, v), (o, _)) in kind.into_iter().zip(outcome) {
            let e = by_kind.entry(k).or_insert((0.0, 0.0));
            e.0 += v;
            if FAILED.contains(&o.as_str()) {
                e.1 += v;
            }
        }
    }
    if by_kind.is_empty() {
        return "<h2>Upstream refreshes</h2><p class=\"muted\">No upstream refresh since this replica started.</p>".into();
    }
    let rows: String = by_kind
        .iter()
        .map(|(kind, (total, failed))| {
            let rate = if *total > 0.0 {
                failed / total * 100.0
            } else {
                0.0
            };
            format!(
                "<tr><td>{}</td><td>{total}</td><td>{failed}</td><td>{rate:.1} %</td></tr>",
                escape(kind)
            )
        })
        .collect();
    format!(
        "<h2>Upstream refreshes since start</h2><div class=\"table\"><table><thead><tr><th scope=\"col\">Provider kind</th><th scope=\"col\">Refreshes</th><th scope=\"col\">Failed</th><th scope=\"col\">Error rate</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

/// A small bar chart as inline SVG (no script, no external asset), with a text summary for
/// screen readers.
pub fn chart(title: &str, values: &[f64]) -> String {
    const W: f64 = 480.0;
    const H: f64 = 100.0;
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let total: f64 = values.iter().sum();
    let n = MINUTES as f64;
    let bar = W / n;
    let offset = MINUTES.saturating_sub(values.len()) as f64;
    let bars: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let h = if max > 0.0 { v / max * (H - 10.0) } else { 0.0 };
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#0a58a8\"/>",
                (offset + i as f64) * bar,
                H - h,
                (bar - 1.0).max(1.0),
                h
            )
        })
        .collect();
    let summary = if values.is_empty() {
        "no samples yet (one per minute)".to_owned()
    } else {
        format!(
            "{total} in {} minutes, at most {max} per minute",
            values.len()
        )
    };
    format!(
        "<figure><figcaption><strong>{t}</strong>: {s}</figcaption>\
<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}: {s}\" xmlns=\"http://www.w3.org/2000/svg\">\
<line x1=\"0\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\" stroke=\"#6e6e73\"/>{bars}</svg></figure>",
        t = escape(title),
        s = escape(&summary),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_and_grouped_from_prometheus_text() {
        let text = "# TYPE http_requests_total counter\nhttp_requests_total{route=\"/a\",status=\"200\"} 3\nhttp_requests_total{route=\"/b\",status=\"500\"} 2\nhttp_requests_total_other 9\n";
        assert_eq!(sum(text, "http_requests_total"), 5.0);
        let by_status = series(text, "http_requests_total", "status");
        assert_eq!(by_status.get("500"), Some(&2.0));
    }

    #[test]
    fn a_chart_is_inline_svg_with_a_text_summary() {
        let svg = chart("Requests <x>", &[1.0, 4.0]);
        assert!(svg.contains("<svg") && svg.contains("role=\"img\""));
        assert!(svg.contains("5 in 2 minutes"));
        assert!(svg.contains("Requests &lt;x&gt;"));
    }
}
