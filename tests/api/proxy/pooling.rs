//! The proxy's connections to the MCP server: reused across requests, never reused once the
//! MCP server closed them or a stream was cut, one per request in flight (no cross-talk).
//! The upstream is a plain hyper server on loopback that counts the connections it accepted
//! and saw closed.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use hyper::{Request, Response, service::service_fn};
use hyper_util::rt::TokioIo;
use reqwest::{StatusCode, header};
use tokio::{net::TcpListener, sync::watch, time::timeout};

use super::support::{PATIENCE, config, eventually, spawn_gateway};

/// Events a `/sse` stream sends at most (it is meant to be cut long before).
const SSE_EVENTS: usize = 500;

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    closed: AtomicUsize,
}

/// A loopback upstream: `/echo?…` answers its query after `delay_ms` (from the query, if any),
/// `/sse` streams an event every 20 ms.
struct Upstream {
    addr: SocketAddr,
    counts: Arc<Counts>,
    /// Bumped to make the upstream close every connection it has.
    close_all: watch::Sender<u32>,
}

impl Upstream {
    async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counts = Arc::new(Counts::default());
        let (close_all, closing) = watch::channel(0);
        let seen = Arc::clone(&counts);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                seen.accepted.fetch_add(1, Ordering::SeqCst);
                let seen = Arc::clone(&seen);
                let mut closing = closing.clone();
                // Closes on the next bump, not on one made before it connected.
                closing.mark_unchanged();
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service_fn(answer));
                    tokio::select! {
                        _ = connection => {}
                        _ = closing.changed() => {}
                    }
                    seen.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            counts,
            close_all,
        }
    }

    fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.counts.closed.load(Ordering::SeqCst)
    }

    /// A gateway in front of this upstream: its URL of the upstream's `/`.
    async fn gateway(&self) -> String {
        let upstream = url::Url::parse(&format!("http://{}/", self.addr)).expect("url");
        let gateway = spawn_gateway(upstream, &config()).await;
        format!("http://{gateway}/t/acme/mcp/demo/")
    }
}

async fn answer(request: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
    let query = request.uri().query().unwrap_or_default().to_owned();
    if request.uri().path() == "/sse" {
        let events = futures_util::stream::iter(1..=SSE_EVENTS).then(|n| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Infallible>(Bytes::from(format!("data: {n}\n\n")))
        });
        let mut response = Response::new(Body::from_stream(events));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        return Ok(response);
    }
    let delay = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("delay_ms="))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    Ok(Response::new(Body::from(query)))
}

async fn get_text(http: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let response = timeout(PATIENCE, http.get(url).send())
        .await
        .expect("answered in time")
        .expect("sent");
    let status = response.status();
    let text = timeout(PATIENCE, response.text())
        .await
        .expect("read in time")
        .expect("text");
    (status, text)
}

#[tokio::test]
async fn sequential_requests_share_one_upstream_connection() {
    let upstream = Upstream::spawn().await;
    let base = upstream.gateway().await;
    let http = reqwest::Client::new();

    for n in 0..5 {
        let (status, text) = get_text(&http, &format!("{base}echo?n={n}")).await;
        assert_eq!((status, text), (StatusCode::OK, format!("n={n}")));
    }

    assert_eq!(upstream.accepted(), 1, "one connection for all five");
    assert_eq!(upstream.closed(), 0);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_not_used_again() {
    // Arrange: one request leaves a pooled connection, which the upstream then closes.
    let upstream = Upstream::spawn().await;
    let base = upstream.gateway().await;
    let http = reqwest::Client::new();
    let (status, _) = get_text(&http, &format!("{base}echo?n=1")).await;
    assert_eq!(status, StatusCode::OK);
    upstream.close_all.send_modify(|n| *n += 1);
    eventually(|| upstream.closed() == 1).await;
    // The FIN reaches the gateway's socket.
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Act
    let (status, text) = get_text(&http, &format!("{base}echo?n=2")).await;

    // Assert: answered, on a new connection.
    assert_eq!((status, text.as_str()), (StatusCode::OK, "n=2"));
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn an_sse_stream_the_client_dropped_midway_closes_its_upstream_connection() {
    // Arrange: a stream read for two events, then dropped.
    let upstream = Upstream::spawn().await;
    let base = upstream.gateway().await;
    let http = reqwest::Client::new();
    let mut stream = timeout(PATIENCE, http.get(format!("{base}sse")).send())
        .await
        .expect("in time")
        .expect("opened");
    let mut seen = String::new();
    while seen.matches("\n\n").count() < 2 {
        let chunk = timeout(PATIENCE, stream.chunk())
            .await
            .expect("an event in time")
            .expect("readable")
            .expect("not ended");
        seen.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
    assert!(seen.starts_with("data: 1\n\ndata: 2\n\n"), "{seen}");

    // Act
    drop(stream);

    // Assert: the upstream saw that connection closed, and the next request gets a new one.
    eventually(|| upstream.closed() == 1).await;
    let (status, text) = get_text(&http, &format!("{base}echo?n=3")).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "n=3"));
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_answer_on_a_bounded_set_of_connections() {
    // Arrange
    let upstream = Upstream::spawn().await;
    let base = upstream.gateway().await;
    let http = reqwest::Client::new();

    // Act: two rounds of 32 requests at once, each held 50 ms by the upstream.
    for round in 0..2 {
        let requests = (0..32).map(|n| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let query = format!("n={round}-{n}&delay_ms=50");
                let answer = get_text(&http, &format!("{base}echo?{query}")).await;
                (query, answer)
            })
        });
        let answers = futures_util::future::join_all(requests).await;

        // Assert: every answer is the one to its own request.
        for answer in answers {
            let (query, (status, text)) = answer.expect("the request task ran");
            assert_eq!((status, text), (StatusCode::OK, query));
        }
    }
    // At most one connection per request in flight, and the second round reused the first's.
    assert!(
        upstream.accepted() <= 32,
        "{} connections",
        upstream.accepted()
    );
    assert_eq!(upstream.closed(), 0);
}
