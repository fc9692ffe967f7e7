//! The Grafana dashboard (deploy/grafana/) and the Prometheus alert rules (deploy/prometheus/)
//! name only metrics the bridge exports: a renamed metric must not leave an empty panel or an
//! alert that can never fire (`rate()` of a series that does not exist is simply no data).
//!
//! "Exported" is read from the running bridge's own `/metrics` after exercising it (HTTP
//! requests, the gateway, an upstream refresh, a sweep). The few metrics only a fault produces
//! (a database outage, userinfo retries, an ambiguous refresh…) are taken from the names the
//! source gives the `metrics` macros, with a histogram's `_bucket`/`_sum`/`_count` series;
//! that mapping is itself checked against the live exposition for the metrics seen there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Utc;
use mcp_auth_bridge::sweeper::Sweeper;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{app_support::test_config, gateway::setup};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every PromQL expression of the dashboard: panel targets (rows nest panels) and the
/// templating queries, as (where, expression).
fn dashboard_expressions() -> Vec<(String, String)> {
    let path = repo().join("deploy/grafana/mcp-auth-bridge.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    fn panels(list: &Value, out: &mut Vec<(String, String)>) {
        for panel in list.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((format!("panel {title:?}"), expr.to_owned()));
                }
            }
            panels(&panel["panels"], out);
        }
    }
    panels(&dashboard["panels"], &mut out);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            out.push((
                format!("variable {}", variable["name"]),
                label_values_selector(query).to_owned(),
            ));
        }
    }
    out
}

/// `label_values(selector, label)` → `selector` (the label is not a metric).
fn label_values_selector(query: &str) -> &str {
    query
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|args| args.rsplit_once(',').map(|(selector, _label)| selector))
        .unwrap_or(query)
}

/// Every alert's expression, as (alert name, expression).
fn rule_expressions() -> Vec<(String, String)> {
    let path = repo().join("deploy/prometheus/alerts.yml");
    let rules: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for group in rules["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            let expr = rule["expr"].as_str().unwrap();
            out.push((format!("alert {name}"), expr.to_owned()));
        }
    }
    out
}

/// The metric names a PromQL expression selects: identifiers left once strings, label matchers
/// (`{…}`), ranges (`[…]`) and grouping clauses (`by (…)`) are removed, that are neither a
/// function call nor a keyword or aggregation operator.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "inf",
        "nan", // aggregation operators, also written `sum by (…) (…)`:
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_until = |from: usize, close: char| {
        let mut j = from;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' {
                j += 1;
                while j < chars.len() && chars[j] != '"' {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => i = skip_until(i + 1, c),
            '{' => i = skip_until(i + 1, '}'),
            '[' => i = skip_until(i + 1, ']'),
            '$' => {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // Numbers, including 1e3 and durations such as 5m.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let call = next < chars.len() && chars[next] == '(';
                if GROUPING.contains(&word.as_str()) && call {
                    i = skip_until(next + 1, ')');
                } else if !call && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// (where, metric) for every metric the dashboard and the rules name; each expression must name
/// at least one, so a parser that finds nothing cannot pass.
fn referenced_metrics() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (place, expr) in dashboard_expressions()
        .into_iter()
        .chain(rule_expressions())
    {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{place}: no metric found in {expr:?}");
        out.extend(names.into_iter().map(|n| (place.clone(), n)));
    }
    out
}

/// The series names the source's `metrics::counter!`/`gauge!`/`histogram!` calls export.
fn metrics_declared_in_src() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (macro_name, suffixes) in [
                    ("counter!(", &[""][..]),
                    ("gauge!(", &[""][..]),
                    ("histogram!(", &["_bucket", "_sum", "_count"][..]),
                ] {
                    for (at, _) in text.match_indices(macro_name) {
                        let rest = text[at + macro_name.len()..].trim_start();
                        let Some(rest) = rest.strip_prefix('"') else {
                            continue;
                        };
                        let name = &rest[..rest.find('"').unwrap()];
                        out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&repo().join("src"), &mut out);
    out
}

/// The sample names of a Prometheus text exposition.
fn exposed_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l[..l.find(['{', ' ']).unwrap_or(l.len())].to_owned())
        .collect()
}

#[test]
fn every_metric_the_dashboard_and_alert_rules_name_is_one_the_source_exports() {
    let declared = metrics_declared_in_src();
    assert!(
        declared.contains("http_requests_total")
            && declared.contains("http_request_duration_seconds_bucket"),
        "the source scan finds the HTTP metrics: {declared:?}"
    );
    let referenced = referenced_metrics();
    assert!(referenced.len() >= 20, "{referenced:?}");
    let unknown: Vec<_> = referenced
        .iter()
        .filter(|(_, name)| !declared.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "named in deploy/ but not exported by the bridge: {unknown:?}\nexported: {declared:?}"
    );
}

#[test]
fn the_promql_scan_finds_metrics_and_skips_functions_labels_and_durations() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (job, le) (rate(a_seconds_bucket{job="x", le=~"1|2"}[5m])))
           / on (job) group_left (instance) b_total offset 1h > 2 and absent(c_total{x="{y}"})
           or sum without (kind) (increase(d:rule[$__rate_interval]))"#,
    );
    let expected = ["a_seconds_bucket", "b_total", "c_total", "d:rule"];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        label_values_selector(r#"label_values(http_requests_total{job=~"$job"}, instance)"#),
        r#"http_requests_total{job=~"$job"}"#
    );
}

#[sqlx::test]
async fn the_metrics_the_dashboard_and_alert_rules_name_are_on_the_running_bridges_metrics(
    pool: PgPool,
) {
    // Arrange: a bridge with the demo MCP server behind its gateway and a logged-in user.
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp mcp:tools").await;

    // Act: what an operator's traffic does. Gateway calls (a cache miss, then hits), one to an
    // MCP server that is down, an upstream refresh of the user's grant, a sweep.
    for _ in 0..3 {
        s.initialize("demo", &token).await;
    }
    let down_token = s.token("down", "mcp").await;
    let down = s
        .post(
            "down",
            &down_token,
            None,
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .send()
        .await
        .unwrap();
    assert!(down.status().is_server_error(), "{}", down.status());
    let grant_id: Uuid = sqlx::query_scalar("SELECT id FROM grants LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    s.app
        .state
        .refresher
        .access_token(grant_id, Utc::now() + chrono::Duration::days(1))
        .await
        .expect("the upstream token is refreshed");
    Sweeper::new(pool.clone(), &test_config(""))
        .run_once(Utc::now())
        .await
        .expect("a sweep");
    let response = s.app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let exposed = exposed_names(&response.text().await.unwrap());

    // Assert: what was exercised is on /metrics under the names the dashboard and rules use…
    let exercised = [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "gateway_upstream_duration_seconds_bucket",
        "gateway_upstream_duration_seconds_sum",
        "gateway_upstream_duration_seconds_count",
        "gateway_upstream_requests_total",
        "gateway_upstream_errors_total",
        "user_context_cache_hits_total",
        "user_context_cache_misses_total",
        "user_context_cache_loads_total",
        "upstream_refresh_total",
        "upstream_refresh_duration_seconds_bucket",
        "sweeper_runs_total",
        "sweeper_duration_seconds_bucket",
    ];
    let missing: Vec<_> = exercised
        .iter()
        .filter(|n| !exposed.contains(**n))
        .collect();
    assert!(
        missing.is_empty(),
        "not on /metrics: {missing:?} in {exposed:?}"
    );
    // …the source scan names those series exactly as the exporter does…
    let declared = metrics_declared_in_src();
    let family = |name: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name)
            .to_owned()
    };
    let declared_families: BTreeSet<_> = declared.iter().map(|n| family(n)).collect();
    for name in &exposed {
        if declared_families.contains(&family(name)) {
            assert!(
                declared.contains(name),
                "{name} is exposed, the scan says {declared:?}"
            );
        }
    }
    // …and every name the dashboard and rules use is exposed, or exported on a fault path.
    let unknown: Vec<_> = referenced_metrics()
        .into_iter()
        .filter(|(_, n)| !exposed.contains(n) && !declared.contains(n))
        .collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
}
