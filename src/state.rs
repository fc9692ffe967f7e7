//! What every handler can reach: configuration, the pool, the keyring, caches and clients.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{
    config::Config,
    crypto::Sealer,
    oauth::rate_limit::RateLimiter,
    tenancy::Tenancy,
    tokens::TenantKeys,
    upstream::{Upstream, refresh::RefreshCoordinator},
    urls::BridgeUrls,
};

/// What every handler gets. One `Arc`, so a clone (axum makes several per request: the state
/// extractor, each `from_fn_with_state` layer) is one atomic increment, not one per field: on
/// the gateway's hot path the per-field clones were measurable (`bench/README.md`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state itself, reached through [`AppState`].
pub struct Shared {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub sealer: Arc<Sealer>,
    pub metrics: PrometheusHandle,
    pub keys: TenantKeys,
    pub upstream: Upstream,
    /// The one way to an upstream access token: refreshes single-flight, across replicas.
    pub refresher: RefreshCoordinator,
    /// Per-IP limit on dynamic registration (in memory, per replica).
    pub registration_limiter: Arc<RateLimiter>,
    /// The gateway's proxy and caches (targets, verified tokens, user contexts).
    pub gateway: crate::gateway::Gateway,
    /// The bridge's own URLs (issuer, resource, callback, metadata).
    pub urls: BridgeUrls,
    /// Tenant resolution, shared by every surface.
    pub tenancy: Tenancy,
    /// Registered clients as client authentication finds them, and when each was last recorded
    /// as used.
    pub clients: crate::oauth::client_cache::ClientCache,
    /// Remote MCP servers with their own OAuth: refresh flights, clients' declared capabilities.
    pub remote: crate::remote::Remote,
}

impl AppState {
    pub fn new(config: Config, pool: PgPool, sealer: Sealer) -> Self {
        let sealer = Arc::new(sealer);
        let leeway = config.auth.clock_skew.get().as_secs();
        let urls = BridgeUrls::new(config.public_url.clone());
        let upstream = Upstream::new(pool.clone(), sealer.clone(), urls.clone(), leeway)
            .with_resolver(Arc::new(crate::net_guard::UpstreamResolver::new(
                crate::net_guard::UpstreamGuard::new(&config.admin.allowed_upstream_hosts),
                crate::net_guard::operator_hosts(&config),
            )));
        Self(Arc::new(Shared {
            keys: TenantKeys::new(
                pool.clone(),
                sealer.clone(),
                config.auth.access_token_ttl.to_chrono(),
            ),
            refresher: RefreshCoordinator::new(
                pool.clone(),
                sealer.clone(),
                upstream.clone(),
                &config.auth,
            ),
            upstream,
            metrics: crate::telemetry::metrics::handle(),
            gateway: crate::gateway::Gateway::new(&config),
            registration_limiter: Arc::new(RateLimiter::new(
                config.registration.rate_limit_per_minute,
            )),
            config: Arc::new(config),
            tenancy: Tenancy::new(pool.clone(), urls.clone()),
            clients: crate::oauth::client_cache::ClientCache::default(),
            remote: crate::remote::Remote::default(),
            urls,
            pool,
            sealer,
        }))
    }

    /// `{public_url}/t/{tenant}`: the tenant's issuer identifier.
    pub fn issuer(&self, tenant: &str) -> String {
        self.urls.issuer(tenant)
    }

    /// `{public_url}/t/{tenant}/mcp/{server}`: an MCP server's canonical resource URL.
    pub fn resource_url(&self, tenant: &str, server: &str) -> String {
        self.urls.resource(tenant, server)
    }
}
