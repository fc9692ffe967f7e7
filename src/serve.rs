//! The accept loop: HTTP/1.1 connections served with hyper directly, because `axum::serve`
//! offers none of what an internet-facing listener needs (issue 11, item 8):
//!
//! - **`TCP_NODELAY` on every accepted socket.** Without it Nagle's algorithm holds a small
//!   write back until the previous one is acknowledged, and the client's delayed ACK makes that
//!   ~40 ms: every other streamed (SSE) response through the gateway stalled that long.
//! - **A header-read timeout** (`server.header_read_timeout`): hyper starts it whenever the
//!   connection waits for a request head, so it bounds both a half-sent head (slowloris) and an
//!   idle keep-alive connection waiting for its next request. Once a head has arrived, the
//!   request and its (possibly endless SSE) response are not limited by it.
//! - **A connection limit** (`server.max_connections`): a permit is taken before `accept`, so
//!   connections beyond the limit wait in the kernel's accept queue instead of being served
//!   with memory and file descriptors the bridge may not have.
//!
//! Graceful shutdown: when `stop` turns true, the listener closes, every connection finishes its
//! in-flight request and closes (an idle one at once), and the loop returns when all are done.
//! Connections are tasks of a `JoinSet` owned by the loop, so dropping the loop's future (the
//! caller's grace period is over) aborts whatever is still running.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
};
use tower::ServiceExt as _;

use crate::config::ServerConfig;

/// A pause after a failed `accept` (typically EMFILE: out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// What bounds the accepted connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

impl From<&ServerConfig> for Limits {
    fn from(config: &ServerConfig) -> Self {
        Self {
            max_connections: config.max_connections,
            header_read_timeout: config.header_read_timeout.get(),
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then drains (see the module docs).
/// Handlers see the peer address as `ConnectInfo<SocketAddr>`, as with axum's
/// `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let connection = connection(&http, stream, peer, router.clone(), permit, stop.clone());
        connections.spawn(connection);
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, until the client closes it, a timeout does, or `stop` drains it.
fn connection(
    http: &hyper::server::conn::http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(Body::new);
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_infallible()) }
    });
    let served = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    async move {
        let mut served = std::pin::pin!(served);
        tokio::select! {
            result = served.as_mut() => log_end(result),
            () = stopped(&mut stop) => {
                served.as_mut().graceful_shutdown();
                log_end(served.await);
            }
        }
        drop(permit);
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        // Timeouts, resets and malformed requests: the client's problem, not the bridge's.
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Resolves once `stop` is true (or its sender is gone), holding no borrow of it afterwards.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// `Result<T, Infallible>` into `T`, spelled out (the standard `into_ok` is unstable).
trait UnwrapInfallible<T> {
    fn unwrap_infallible(self) -> T;
}

impl<T> UnwrapInfallible<T> for Result<T, Infallible> {
    fn unwrap_infallible(self) -> T {
        match self {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }
}
