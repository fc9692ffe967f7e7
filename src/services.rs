//! The shared services every surface stands on: configuration, the pool, the sealer, the
//! tenant keys, the upstream adapters and refresher, tenancy, the bridge's URLs, metrics and the
//! replica's caches (as [`Caches`], what cache events are applied to).
//!
//! This module sits below the surfaces and imports none of them. Each surface's state is these
//! services plus its own part (the gateway's caches and proxy, the registration limiter of
//! `oauth`, the remote-OAuth flights); `state.rs` at the top builds them once and hands each
//! handler its own with axum's `FromRef`. A surface that needs nothing of its own (`admin`,
//! `account`, `console`, `health`, `dev_idp`) takes `State<Services>`.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{
    client_cache::ClientCache,
    coherence::{Caches, ReplicaCaches},
    config::Config,
    crypto::Sealer,
    tenancy::Tenancy,
    tokens::TenantKeys,
    upstream::{Upstream, refresh::RefreshCoordinator},
    urls::BridgeUrls,
};

/// The shared services. One `Arc`, so a clone (axum makes several per request: the state
/// extractor, each `from_fn_with_state` layer) is one atomic increment, not one per field: on
/// the gateway's hot path the per-field clones were measurable (`bench/README.md`).
#[derive(Clone)]
pub struct Services(Arc<Shared>);

impl std::ops::Deref for Services {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The services themselves, reached through [`Services`].
pub struct Shared {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub sealer: Arc<Sealer>,
    pub metrics: PrometheusHandle,
    pub keys: TenantKeys,
    pub upstream: Upstream,
    /// The one way to an upstream access token: refreshes single-flight, across replicas.
    pub refresher: RefreshCoordinator,
    /// The bridge's own URLs (issuer, resource, callback, metadata).
    pub urls: BridgeUrls,
    /// Tenant resolution, shared by every surface.
    pub tenancy: Tenancy,
    /// Registered clients as client authentication finds them, and when each was last recorded
    /// as used.
    pub clients: ClientCache,
    /// This replica's caches, what `coherence` applies cache events to.
    pub caches: Caches,
}

impl Services {
    /// Builds the services; `replica` is the in-memory caches that cache events invalidate
    /// besides the tenant keys (the gateway's, built by the caller above the surfaces).
    pub fn new(
        config: Config,
        pool: PgPool,
        sealer: crate::crypto::Sealer,
        replica: Arc<dyn ReplicaCaches>,
    ) -> Self {
        let sealer = Arc::new(sealer);
        let leeway = config.auth.clock_skew.get().as_secs();
        let urls = BridgeUrls::new(config.public_url.clone());
        let upstream = Upstream::new(pool.clone(), sealer.clone(), urls.clone(), leeway)
            .with_resolver(Arc::new(crate::net_guard::UpstreamResolver::new(
                crate::net_guard::UpstreamGuard::new(&config.admin.allowed_upstream_hosts),
                crate::net_guard::operator_hosts(&config),
            )));
        let keys = TenantKeys::new(
            pool.clone(),
            sealer.clone(),
            config.auth.access_token_ttl.to_chrono(),
        );
        let tenancy = Tenancy::new(pool.clone(), urls.clone());
        let clients = ClientCache::default();
        Self(Arc::new(Shared {
            caches: Caches::new(
                pool.clone(),
                keys.clone(),
                tenancy.cache().clone(),
                clients.cache().clone(),
                replica,
            ),
            keys,
            refresher: RefreshCoordinator::new(
                pool.clone(),
                sealer.clone(),
                upstream.clone(),
                &config.auth,
            ),
            upstream,
            metrics: crate::telemetry::metrics::handle(),
            config: Arc::new(config),
            tenancy,
            clients,
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
