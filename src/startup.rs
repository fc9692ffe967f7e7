//! Building the router and running the server until a signal stops it.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{Router, routing::get};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::{
    bootstrap,
    config::Config,
    health,
    state::AppState,
    store,
    telemetry::{self, request_id},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("sealing keys: {0}")]
    Seal(#[from] crate::crypto::seal::SealError),
    #[error(transparent)]
    MissingKeys(#[from] crate::missing_keys::MissingKeysError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The whole HTTP surface. Tests call this with their own state.
///
/// Layer order, outermost first: request id (so every later layer and log line has it),
/// sensitive-header marking (before tracing, so `Authorization` and cookies never reach a log),
/// the trace span, metrics, then panic catching closest to the handlers. Each is a `tower`
/// layer that names its future (`telemetry::*`): nothing boxed per request beyond what the
/// router itself boxes (issue 13, item 2).
pub fn router(state: AppState) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let trusted_proxies: std::sync::Arc<[crate::net_guard::Cidr]> =
        state.config.server.trusted_proxies.clone().into();
    let mut surfaces = Router::new()
        .route(crate::urls::route::HEALTHZ, get(health::healthz))
        .route(crate::urls::route::READYZ, get(health::readyz))
        .route(crate::urls::route::METRICS, get(health::metrics))
        .merge(crate::oauth::routes(max_body))
        .merge(crate::gateway::routes::routes(&state.gateway_state))
        .merge(crate::remote::routes::routes())
        .merge(crate::admin::routes(&state.services))
        .merge(crate::account::routes())
        .merge(crate::console::routes(&state.services))
        .route(crate::pages::STYLESHEET_PATH, get(crate::pages::stylesheet));
    // The built-in IdP is a peer of the surfaces, not part of the authorization server, and
    // exists only for local trials: outside dev_mode its routes are not there at all (a `dev`
    // provider is refused outside dev_mode by configuration and admin validation alike).
    if state.config.dev_mode {
        surfaces = surfaces.merge(crate::dev_idp::routes());
    }
    surfaces.with_state(state).layer(
        ServiceBuilder::new()
            .layer(request_id::RequestIdLayer)
            .layer(SetSensitiveRequestHeadersLayer::new([
                http::header::AUTHORIZATION,
                http::header::COOKIE,
                http::header::PROXY_AUTHORIZATION,
            ]))
            .layer(telemetry::request_span::RequestSpanLayer::new(
                trusted_proxies,
            ))
            .layer(telemetry::http_metrics::HttpMetricsLayer)
            .layer(telemetry::catch_panic::CatchPanicLayer),
    )
}

/// Whether `build` prepares the database (create, migrate, apply configured tenants) or takes
/// it as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseSetup {
    Prepare,
    AsIs,
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    shutdown_grace: Duration,
    state: AppState,
}

impl Application {
    /// Connects to Postgres (creating the database when allowed), migrates, applies the
    /// configured tenants and binds the listener. While the database is unavailable, connecting
    /// and migrating are retried for `database.startup_timeout` (see
    /// [`store::pool::connect_and_migrate_with_retry`]).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let pool = store::pool::connect_and_migrate_with_retry(&config.database).await?;
        Self::build_with_pool(config, pool, DatabaseSetup::Prepare).await
    }

    /// Like [`Application::build`] with a given pool (tests pass `#[sqlx::test]`'s).
    pub async fn build_with_pool(
        config: Config,
        pool: PgPool,
        setup: DatabaseSetup,
    ) -> Result<Self, StartupError> {
        Self::build_with(config, pool, setup, None).await
    }

    /// Like [`Application::build_with_pool`] on a listener bound beforehand, so a test can put
    /// the port into `public_url` before the application is built.
    pub async fn build_with(
        config: Config,
        pool: PgPool,
        setup: DatabaseSetup,
        listener: Option<TcpListener>,
    ) -> Result<Self, StartupError> {
        let (sealer, ephemeral) = config.crypto.sealer(config.dev_mode)?;
        if ephemeral {
            tracing::warn!(
                "DEV MODE: no crypto.keys configured, sealing with an EPHEMERAL key; stored upstream \
                 tokens and signing keys become unreadable at restart. Never run like this in production."
            );
        }
        if setup == DatabaseSetup::Prepare {
            store::migrate_within(&pool, &config.database).await?;
            let report = bootstrap::apply_config_tenants(&pool, &config, &sealer).await?;
            tracing::info!(?report, "configured tenants applied");
            crate::missing_keys::check(&pool, &config, &sealer).await?;
        }
        let addr = config.server.bind;
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::Bind { addr, source })?,
        };
        let shutdown_grace = config.server.shutdown_grace.get();
        let state = AppState::new(config, pool, sealer);
        Ok(Self {
            listener,
            router: router(state.clone()),
            shutdown_grace,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish within the
    /// configured grace period and drops whatever is still running after it.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Background work shares the shutdown signal: the sweeper stops between batches.
        let sweeper = crate::sweeper::Sweeper::new(self.state.pool.clone(), &self.state.config)
            .spawn(stop_rx.clone());
        let listener = crate::coherence::spawn_listener(self.state.caches.clone(), stop_rx.clone());
        let limits = crate::serve::Limits::from(&self.state.config.server);
        let mut server = tokio::spawn(crate::serve::serve(
            self.listener,
            self.router,
            limits,
            stop_rx,
        ));
        tokio::select! {
            done = &mut server => return done.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            () = shutdown => {}
        }
        tracing::info!(grace = ?self.shutdown_grace, "shutting down: draining in-flight requests");
        let _ = stop_tx.send(true);
        self.state.gateway.draining.start();
        let served = match tokio::time::timeout(self.shutdown_grace, &mut server).await {
            Ok(done) => done.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => {
                tracing::warn!("grace period over; dropping the remaining connections");
                server.abort();
                Ok(())
            }
        };
        let _ = tokio::time::timeout(self.shutdown_grace, listener).await;
        if tokio::time::timeout(self.shutdown_grace, sweeper)
            .await
            .is_err()
        {
            tracing::warn!("sweeper did not stop within the grace period");
        }
        served
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}
