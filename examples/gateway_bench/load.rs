//! The load generator: `concurrency` tokio tasks, each sending one small JSON-RPC `POST` after
//! another on a shared pooled reqwest client, for a warm-up and then a measured window.
//! Latencies go into a `Vec` (microseconds) and are sorted once for the percentiles; at these
//! rates (at most a few hundred thousand samples per window) that costs less than a histogram
//! dependency and is exact.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};

/// No task sends more than this in one window, whatever the rate.
const MAX_REQUESTS_PER_TASK: usize = 2_000_000;

/// `tools/call echo`: the small JSON-RPC request every measured request sends.
pub const ECHO: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
/// `ping`: what the cache-warming and stampede requests send.
pub const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

/// Where the requests go and with which bearer tokens (round-robin; none for direct calls).
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub session: String,
    pub tokens: Arc<Vec<String>>,
    pub body: &'static str,
}

impl Target {
    pub fn headers(&self) -> anyhow::Result<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        h.insert("mcp-session-id", HeaderValue::from_str(&self.session)?);
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static(crate::setup::PROTOCOL_VERSION),
        );
        Ok(h)
    }

    fn request(
        &self,
        client: &reqwest::Client,
        headers: &HeaderMap,
        i: usize,
    ) -> reqwest::RequestBuilder {
        let mut r = client
            .post(&self.url)
            .headers(headers.clone())
            .body(Bytes::from_static(self.body.as_bytes()));
        if !self.tokens.is_empty() {
            r = r.bearer_auth(&self.tokens[i % self.tokens.len()]);
        }
        r
    }
}

/// A client like an MCP client's: pooled keep-alive connections, no proxy, no redirects.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tcp_nodelay(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// One window: `warmup` unmeasured, then `measure` measured. Every request is checked to be a
/// `200`; requests started after the window are not sent.
pub async fn run(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Stats> {
    let headers = Arc::new(target.headers()?);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, target, headers, next) = (
                client.clone(),
                target.clone(),
                headers.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut micros: Vec<u32> = Vec::with_capacity(64 * 1024);
                let mut errors = 0usize;
                for _ in 0..MAX_REQUESTS_PER_TASK {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let ok = match target.request(&client, &headers, i).send().await {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if t0 >= measure_from {
                        micros.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                        errors += usize::from(!ok);
                    }
                }
                (micros, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (micros, e) = task.await.context("load task")?;
        all.extend(micros);
        errors += e;
    }
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len().saturating_sub(1)) as f64 * q) as usize)
            .map_or(f64::NAN, |v| f64::from(*v))
    };
    Ok(Stats {
        requests: all.len(),
        errors,
        rps: all.len() as f64 / measure.as_secs_f64(),
        p50_us: at(0.5),
        p99_us: at(0.99),
    })
}

/// Sends one request per token (each token once), `concurrency` at a time, stopping at
/// `limit`. Returns (requests sent, non-200 answers).
pub async fn each_once(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    limit: Duration,
) -> anyhow::Result<(usize, usize)> {
    let headers = Arc::new(target.headers()?);
    let deadline = Instant::now() + limit;
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, target, headers, next) = (
                client.clone(),
                target.clone(),
                headers.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let (mut sent, mut failed) = (0usize, 0usize);
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= target.tokens.len() {
                        break;
                    }
                    let ok = match target.request(&client, &headers, i).send().await {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    sent += 1;
                    failed += usize::from(!ok);
                }
                (sent, failed)
            })
        })
        .collect();
    let (mut sent, mut failed) = (0, 0);
    for task in tasks {
        let (s, f) = task.await.context("warm task")?;
        sent += s;
        failed += f;
    }
    Ok((sent, failed))
}

/// `n` requests for the first token, released together (each on its own task, behind a
/// barrier). Returns the status codes (0: no answer).
pub async fn burst(
    client: &reqwest::Client,
    target: &Target,
    n: usize,
) -> anyhow::Result<Vec<u16>> {
    let headers = Arc::new(target.headers()?);
    let gate = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, target, headers, gate) = (
                client.clone(),
                target.clone(),
                headers.clone(),
                gate.clone(),
            );
            tokio::spawn(async move {
                let request = target.request(&client, &headers, 0);
                gate.wait().await;
                match request.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0,
                }
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.context("burst task")?);
    }
    Ok(statuses)
}
