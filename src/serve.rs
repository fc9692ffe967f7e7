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
//! - **A lingering close.** A response sent before the request body was read (a 413 for an
//!   oversized body, a 401 before an upload) leaves the client still sending; closing a socket
//!   with unread bytes in it makes the kernel send a RST, and the client, whose receive buffer
//!   the RST discards, loses the answer (`IncompleteMessage`). So, as nginx's `lingering_close`,
//!   once hyper is done with a connection it is half-closed (FIN after the response) and what the
//!   client still sends is read and discarded, at most `LINGER_BYTES` for at most `LINGER_TIME`,
//!   before the socket closes. The connection keeps its permit meanwhile: a slow client holds it
//!   for `LINGER_TIME` at most.
//!
//! - **No yield per request.** A connection's task wakes itself while serving a request with a
//!   body (hyper's dispatcher and the handler reading the body talk over a channel), which tokio
//!   turns into a yield that wakes another worker to steal the connection; the task is polled
//!   through `self_wake::absorbing`, which polls it again on the spot instead.
//!
//! Graceful shutdown: when `stop` turns true, the listener closes, every connection finishes its
//! in-flight request and closes (an idle one at once), and the loop returns when all are done.
//! Connections are tasks of a `JoinSet` owned by the loop, so dropping the loop's future (the
//! caller's grace period is over) aborts whatever is still running.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch},
    task::JoinSet,
};
use tower::ServiceExt as _;

use crate::config::ServerConfig;

/// A pause after a failed `accept` (typically EMFILE: out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// How long a closing connection reads and discards what its client still sends, and how much
/// it reads at most (see the module docs): enough for a client to finish sending a body past the
/// 1 MiB limits and read the answer, too little for a client to keep the connection.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 * 1024 * 1024;

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
        connections.spawn(crate::self_wake::absorbing(connection));
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
    let (socket, returned) = ReturnedSocket::new(stream);
    let served = http
        .serve_connection(TokioIo::new(socket), service)
        .with_upgrades();
    async move {
        let mut served = Box::pin(served);
        tokio::select! {
            result = served.as_mut() => log_end(result),
            () = stopped(&mut stop) => {
                served.as_mut().graceful_shutdown();
                log_end(served.as_mut().await);
            }
        }
        // Dropping hyper's connection hands the socket back, unless an upgrade still owns it.
        drop(served);
        let mut returned = returned;
        if let Ok(stream) = returned.try_recv() {
            linger(stream).await;
        }
        drop(permit);
    }
}

/// The lingering close (see the module docs): half-close, then read and discard what the client
/// still sends, bounded in bytes and time, so the close sends no RST over the response.
async fn linger(mut stream: TcpStream) {
    // Usually already done by hyper; repeated, it changes nothing.
    let _ = stream.shutdown().await;
    let mut discarded = 0;
    let mut buffer = vec![0_u8; 64 * 1024];
    let drain = async {
        while discarded < LINGER_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => discarded += read,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// The accepted socket as hyper's IO; when hyper drops it, the socket is sent back to its
/// connection task for the lingering close instead of being closed there.
struct ReturnedSocket {
    stream: Option<TcpStream>,
    back: Option<oneshot::Sender<TcpStream>>,
}

impl ReturnedSocket {
    fn new(stream: TcpStream) -> (Self, oneshot::Receiver<TcpStream>) {
        let (back, returned) = oneshot::channel();
        let socket = Self {
            stream: Some(stream),
            back: Some(back),
        };
        (socket, returned)
    }

    /// The socket; absent only during `drop`.
    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl Drop for ReturnedSocket {
    fn drop(&mut self) {
        if let (Some(stream), Some(back)) = (self.stream.take(), self.back.take()) {
            // The task is gone (aborted): the socket just closes.
            let _ = back.send(stream);
        }
    }
}

impl AsyncRead for ReturnedSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for ReturnedSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
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
