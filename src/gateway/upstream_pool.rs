//! The proxy's idle HTTP/1.1 connections to MCP servers, kept for the next request.
//!
//! A connection is a hyper `SendRequest` and the `Connection` that drives it, both owned by
//! whichever request uses it: the request's own task writes the request, reads the answer and
//! passes the body on (`upstream_client.rs`, `upstream_body.rs`), with no task per connection
//! and no channel hop per body frame (issue 13: the hand-offs between tasks cost more CPU than
//! the proxying). Between requests the pair waits here, per (scheme, authority), newest last.
//!
//! Nothing drives an idle connection, so an MCP server closing it goes unseen until someone
//! looks: [`Pool::take`] drives it once (reading the EOF) before handing it out, and a sweep
//! every [`SWEEP_EVERY`] drops the closed and the expired ones, so no socket stays in
//! `CLOSE_WAIT` for long.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak},
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::body::Body;
use http::uri::Authority;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, time::Instant};

/// How often idle connections are checked for a close by the MCP server or an expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The socket under a connection: TCP, with TLS for `https`.
pub(super) type Io = MaybeHttpsStream<TokioIo<TcpStream>>;

/// Where a connection goes: connections are shared only between requests to the same origin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) https: bool,
    pub(super) authority: Authority,
}

/// One HTTP/1.1 connection: the handle requests are sent with, and the state machine that
/// reads and writes the socket, which makes progress only when polled.
pub(super) struct Conn {
    pub(super) sender: SendRequest<Body>,
    driver: Connection<Io, Body>,
    /// The driver completed (the connection closed or failed); it is never polled again.
    finished: bool,
}

impl Conn {
    pub(super) fn new(sender: SendRequest<Body>, driver: Connection<Io, Body>) -> Self {
        Self {
            sender,
            driver,
            finished: false,
        }
    }

    /// Reads and writes what the socket allows; `Ready` once the connection is over.
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished {
            return Poll::Ready(());
        }
        match Pin::new(&mut self.driver).poll(cx) {
            Poll::Ready(result) => {
                self.finished = true;
                if let Err(error) = result {
                    tracing::debug!(%error, "MCP server connection ended");
                }
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether the next request can be sent on it: driven once first, so that a close by the
    /// MCP server that already arrived is seen.
    pub(super) fn reusable(&mut self, cx: &mut Context<'_>) -> bool {
        self.drive(cx).is_pending() && self.sender.is_ready()
    }

    /// [`Conn::reusable`] outside of any task (nothing is woken by what it registers).
    fn reusable_now(&mut self) -> bool {
        self.reusable(&mut Context::from_waker(Waker::noop()))
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Idle connections per origin, at most `max_per_host` each, none older than `timeout`.
pub(super) struct Pool {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    max_per_host: usize,
    timeout: Duration,
    /// Set once the sweeping task runs.
    sweeper: OnceLock<()>,
}

impl Pool {
    pub(super) fn new(max_per_host: usize, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::default(),
            max_per_host,
            timeout,
            sweeper: OnceLock::new(),
        })
    }

    /// The most recently used live connection to `key`, if any; the dead and expired ones met
    /// on the way are closed. `cx` is the caller's: the connection is its to drive from now on.
    pub(super) fn take(&self, key: &Key, cx: &mut Context<'_>) -> Option<Conn> {
        // Bounded by the connections idle for `key` (at most `max_per_host`).
        loop {
            let idle = self.lock().get_mut(key)?.pop()?;
            if idle.since.elapsed() >= self.timeout {
                // The others are older still.
                let expired = self.lock().remove(key);
                drop(expired);
                return None;
            }
            let mut conn = idle.conn;
            if conn.reusable(cx) {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request to `key`, if it can take one and there is room.
    pub(super) fn put(self: &Arc<Self>, key: Key, mut conn: Conn) {
        if !conn.reusable_now() {
            return;
        }
        self.start_sweeping();
        let now = Instant::now();
        let mut idle = self.lock();
        let list = idle.entry(key).or_default();
        let expired = list
            .iter()
            .take_while(|i| now.duration_since(i.since) >= self.timeout)
            .count();
        let expired: Vec<Idle> = list.drain(..expired).collect();
        let refused = if list.len() < self.max_per_host {
            list.push(Idle { conn, since: now });
            None
        } else {
            Some(conn)
        };
        drop(idle);
        // Sockets are closed outside the lock.
        drop((expired, refused));
    }

    /// Closes the idle connections the MCP server closed, and the expired ones.
    fn sweep(&self) {
        let mut closed = Vec::new();
        let mut idle = self.lock();
        for list in idle.values_mut() {
            let mut kept = Vec::with_capacity(list.len());
            for mut entry in list.drain(..) {
                if entry.since.elapsed() < self.timeout && entry.conn.reusable_now() {
                    kept.push(entry);
                } else {
                    closed.push(entry);
                }
            }
            *list = kept;
        }
        idle.retain(|_, list| !list.is_empty());
        drop(idle);
        drop(closed);
    }

    /// A task sweeping the pool while it exists, on the runtime of the first `put`.
    fn start_sweeping(self: &Arc<Self>) {
        self.sweeper.get_or_init(|| {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let pool: Weak<Self> = Arc::downgrade(self);
            runtime.spawn(async move {
                let mut every = tokio::time::interval(SWEEP_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                // Ends with the pool (the proxy dropped).
                loop {
                    every.tick().await;
                    let Some(pool) = pool.upgrade() else { break };
                    pool.sweep();
                }
            });
        });
    }

    /// A poisoned lock only means a panic elsewhere while it was held; the map is intact.
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections idle right now, all origins together (tests).
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_per_host", &self.max_per_host)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use hyper::{Response, service::service_fn};
    use tokio::{net::TcpListener, sync::oneshot};

    use super::*;

    /// A connection to a one-connection loopback server, the count of connections that server
    /// saw closed, and a switch that makes it close its side.
    async fn connection() -> (Key, Conn, Arc<AtomicUsize>, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let closed = Arc::new(AtomicUsize::new(0));
        let (close, closing) = oneshot::channel::<()>();
        let seen = Arc::clone(&closed);
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            let served = hyper::server::conn::http1::Builder::new().serve_connection(
                TokioIo::new(socket),
                service_fn(|_| async { Ok::<_, Infallible>(Response::new(Body::empty())) }),
            );
            tokio::select! {
                _ = served => {}
                _ = closing => {}
            }
            seen.fetch_add(1, Ordering::SeqCst);
        });
        let socket = TcpStream::connect(addr).await.expect("connect");
        let io = MaybeHttpsStream::Http(TokioIo::new(socket));
        let (sender, driver) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        let key = Key {
            https: false,
            authority: Authority::try_from(addr.to_string()).expect("authority"),
        };
        (key, Conn::new(sender, driver), closed, close)
    }

    /// Waits (boundedly) until `closed` counts one.
    async fn closed_once(closed: &AtomicUsize) {
        for _ in 0..200 {
            if closed.load(Ordering::SeqCst) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(closed.load(Ordering::SeqCst), 1, "the server saw the close");
    }

    #[tokio::test]
    async fn an_idle_connection_past_the_timeout_is_closed_by_the_sweep() {
        let pool = Pool::new(4, Duration::from_millis(50));
        let (key, conn, closed, _close) = connection().await;
        pool.put(key, conn);
        assert_eq!(pool.idle_count(), 1);

        tokio::time::sleep(Duration::from_millis(60)).await;
        pool.sweep();

        assert_eq!(pool.idle_count(), 0);
        closed_once(&closed).await;
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_is_dropped_by_the_sweep() {
        let pool = Pool::new(4, Duration::from_secs(90));
        let (key, conn, closed, close) = connection().await;
        pool.put(key.clone(), conn);

        close.send(()).expect("the server runs");
        closed_once(&closed).await;
        // The FIN reaches the pooled socket.
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.sweep();

        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn an_expired_connection_is_not_handed_out() {
        let pool = Pool::new(4, Duration::from_millis(20));
        let (key, conn, _closed, _close) = connection().await;
        pool.put(key.clone(), conn);
        tokio::time::sleep(Duration::from_millis(30)).await;

        let taken = pool.take(&key, &mut Context::from_waker(Waker::noop()));

        assert!(taken.is_none());
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_live_connection_is_handed_out_once() {
        let pool = Pool::new(4, Duration::from_secs(90));
        let (key, conn, _closed, _close) = connection().await;
        pool.put(key.clone(), conn);
        let mut cx = Context::from_waker(Waker::noop());

        assert!(pool.take(&key, &mut cx).is_some());
        assert!(pool.take(&key, &mut cx).is_none());
    }
}
