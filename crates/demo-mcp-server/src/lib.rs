//! A small but real MCP server speaking the Streamable HTTP transport (MCP revision 2025-11-25,
//! identical to 2025-06-18 for the transport): the upstream the gateway's integration tests,
//! the benchmark and the docker-compose demo put behind the bridge.
//!
//! It is a **demo**: sessions live in this process's memory (bounded, oldest evicted), there is
//! no database, and nothing survives a restart. That is fine for its job, which is to behave
//! like a spec-following MCP server and to tell tests what reached it ([`DemoMcpHandle`]).
//!
//! One endpoint (`/mcp` in [`router`]; [`endpoint`] mounts anywhere):
//! `POST` carries one JSON-RPC message, `GET` opens the server-to-client SSE stream, `DELETE`
//! ends the session. With [`DemoMcpOptions::upstream_check_url`] set, every `POST` first proves
//! the user's upstream token (header [`UPSTREAM_TOKEN_HEADER`]) against that URL, the way a real
//! MCP server's upstream API would reject an expired token.

mod countdown;
mod delete;
mod error;
mod handle;
mod headers;
mod jsonrpc;
mod methods;
mod observe;
mod post;
mod random;
mod sessions;
mod signal;
mod state;
mod stream;
mod tools;
mod upstream_check;
mod whoami;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{MethodRouter, get},
};
use tokio::net::TcpListener;

pub use handle::DemoMcpHandle;
pub use upstream_check::UPSTREAM_TOKEN_HEADER;

/// How long [`serve`] lets open responses (countdown streams) finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What a demo MCP server instance does differently; [`Default`] suits the binary.
#[derive(Clone, Debug)]
pub struct DemoMcpOptions {
    /// Interval between server messages on the `GET` stream and between countdown progress
    /// notifications. Tests shorten it; zero is treated as one millisecond.
    pub tick: Duration,
    /// When set, every `POST` is first checked by calling this URL with the upstream token as a
    /// bearer token; a `401` there becomes a `401` here (for the gateway's refresh-on-401 tests).
    pub upstream_check_url: Option<url::Url>,
    /// Largest accepted `POST` body; larger ones get `413`.
    pub max_body_bytes: usize,
}

impl Default for DemoMcpOptions {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(200),
            upstream_check_url: None,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The MCP endpoint as a method router, so it can be mounted at any path (the gateway tests may
/// want `/t/acme/mcp/x`). The handle observes every request it serves.
pub fn endpoint(options: DemoMcpOptions) -> (MethodRouter, DemoMcpHandle) {
    let handle = DemoMcpHandle::new();
    let limit = options.max_body_bytes;
    let shared = Arc::new(state::Shared::new(options, handle.clone()));
    let method_router = get(stream::open)
        .post(post::receive)
        .delete(delete::terminate)
        .with_state(shared)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            handle.clone(),
            observe::record,
        ));
    (method_router, handle)
}

/// The demo server with its endpoint at `/mcp`.
pub fn router(options: DemoMcpOptions) -> (Router, DemoMcpHandle) {
    let (endpoint, handle) = endpoint(options);
    (Router::new().route("/mcp", endpoint), handle)
}

/// Binds `127.0.0.1:0` and serves in the background until the runtime ends (tests, benches).
pub async fn spawn(options: DemoMcpOptions) -> std::io::Result<(SocketAddr, DemoMcpHandle)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (router, handle) = router(options);
    let background = handle.clone();
    tokio::spawn(async move {
        if let Err(e) = run(listener, router, background, std::future::pending()).await {
            tracing::error!(error = %e, "demo MCP server stopped");
        }
    });
    Ok((addr, handle))
}

/// Serves on `listener` until `shutdown` completes, then closes the open `GET` streams (which
/// would otherwise never end) and lets other responses finish within a short grace period.
pub async fn serve(
    listener: TcpListener,
    options: DemoMcpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, handle) = router(options);
    run(listener, router, handle, shutdown).await
}

/// What the `demo-mcp-server` binary runs: binds `bind`, serves `/mcp` until SIGINT/SIGTERM.
pub async fn run_until_signal(bind: SocketAddr, options: DemoMcpOptions) -> std::io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "demo MCP server listening on /mcp");
    serve(listener, options, signal::shutdown()).await
}

async fn run(
    listener: TcpListener,
    router: Router,
    handle: DemoMcpHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        done = &mut server => return done.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        () = shutdown => {}
    }
    handle.close_streams();
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
        Ok(done) => done.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        Err(_) => {
            server.abort();
            Ok(())
        }
    }
}
