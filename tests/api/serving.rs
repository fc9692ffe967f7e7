//! The listener against slow and greedy clients (security property: a client cannot hold the
//! bridge's connections open for free) and its latency for streamed responses: a half-sent
//! request head or an idle keep-alive connection is closed after `server.header_read_timeout`,
//! connections beyond `server.max_connections` wait, and accepted sockets have `TCP_NODELAY`
//! (without it a streamed response's second write waits ~40 ms for the client's delayed ACK).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{Router, body::Body, routing::get};
use mcp_auth_bridge::serve::{Limits, serve};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::app_support::{spawn_app, test_config};

/// Every wait here ends by this, so a broken server fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

/// A router whose `/stream` answers with two small chunks written one after the other (as an
/// SSE event and the end of the stream are), and `/` with a short text.
fn router() -> Router {
    Router::new().route("/", get(|| async { "ok" })).route(
        "/stream",
        get(|| async {
            let chunks = futures_util::stream::unfold(0u8, |n| async move {
                if n >= 2 {
                    return None;
                }
                // Let hyper write the first chunk on its own before the second exists.
                tokio::task::yield_now().await;
                let chunk = format!("data: {n}\n\n");
                Some((Ok::<_, std::io::Error>(chunk), n + 1))
            });
            Body::from_stream(chunks)
        }),
    )
}

async fn spawn_server(limits: Limits) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(serve(listener, router(), limits, stopped));
    (addr, stop)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: bridge.test\r\n\r\n";

/// Reads until the peer closes; returns what was read and when it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut seen))
        .await
        .expect("the server closes the connection");
    (seen, Instant::now())
}

/// Reads one short response (`Content-Length` bodies of a few bytes) or gives up after `wait`.
async fn read_response(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buffer = vec![0u8; 1024];
    let n = tokio::time::timeout(wait, stream.read(&mut buffer))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buffer[..n]).into_owned())
}

#[sqlx::test]
async fn a_half_sent_request_head_is_closed_after_the_header_read_timeout(pool: PgPool) {
    // Arrange: the real application with a 1 s header-read timeout.
    let mut config = test_config("");
    config.server.header_read_timeout = mcp_auth_bridge::config::HumanDuration::secs(1);
    let app = spawn_app(pool, config).await;
    let mut slowloris = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();

    // Act: a request head that never ends.
    let started = Instant::now();
    slowloris
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bridge.test\r\nX-Slow: 1\r\n")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut slowloris).await;

    // Assert
    let held = closed - started;
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(5),
        "held for {held:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    // Arrange
    let limits = Limits {
        max_connections: 10,
        header_read_timeout: Duration::from_millis(500),
    };
    let (addr, _stop) = spawn_server(limits).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();

    // Act: one request, then nothing.
    idle.write_all(GET).await.unwrap();
    let answered = read_response(&mut idle, PATIENCE).await.expect("answered");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut idle).await;

    // Assert
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        closed - started < Duration::from_secs(4),
        "{:?}",
        closed - started
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    // Arrange: two connections allowed, both taken by idle keep-alive clients.
    let limits = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(20),
    };
    let (addr, _stop) = spawn_server(limits).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for held in [&mut first, &mut second] {
        held.write_all(GET).await.unwrap();
        assert!(read_response(held, PATIENCE).await.is_some());
    }

    // Act: a third client connects (the kernel queues it) and sends a request.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(GET).await.unwrap();
    let while_full = read_response(&mut third, Duration::from_millis(700)).await;
    drop(first);
    let after_one_closed = read_response(&mut third, PATIENCE).await;

    // Assert
    assert_eq!(while_full, None, "served beyond max_connections");
    assert!(
        after_one_closed.is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        "the waiting connection is served once a slot frees"
    );
}

#[tokio::test]
async fn streamed_responses_do_not_wait_for_delayed_acks() {
    // Arrange: one keep-alive connection, as an MCP client's.
    let limits = Limits {
        max_connections: 10,
        header_read_timeout: Duration::from_secs(10),
    };
    let (addr, _stop) = spawn_server(limits).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/stream");
    assert_eq!(
        http.get(&url).send().await.unwrap().text().await.unwrap(),
        "data: 0\n\ndata: 1\n\n"
    );

    // Act: sequential streamed responses of two writes each.
    const N: u32 = 40;
    let started = Instant::now();
    for _ in 0..N {
        let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(body.len(), 18);
    }
    let elapsed = started.elapsed();

    // Assert: with Nagle each response's second write waited for the client's delayed ACK
    // (measured: 40 responses in 1.8 s); with TCP_NODELAY the 40 took 40 ms in all. The bound
    // sits between the two with a wide margin either way for a loaded machine.
    assert!(
        elapsed < Duration::from_millis(900),
        "{N} streamed responses took {elapsed:?}"
    );
}
