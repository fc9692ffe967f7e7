//! Resolving the `{tenant}` path segment to an active tenant, once per request.
//!
//! A service shared by the OAuth endpoints and the gateway (peers: neither borrows it from
//! the other).
//!
//! Tenants are served from memory (issue 13: the token endpoint read its tenant on every
//! request): a [`CoherentCache`] emptied by every `TenantChanged` or `FlushAll` event and
//! whenever the coherence listener is not subscribed. Its lifetime is short anyway
//! ([`TENANT_TTL`], the gateway's targets' TTL): a tenant changed by another replica's start-up
//! (configuration) announces nothing.

use std::time::Duration;

use sqlx::PgPool;

use crate::{
    coherent_cache::CoherentCache,
    domain::{
        McpServer, TenantSlug, UpstreamProvider,
        tenant::{Tenant, TenantStatus},
    },
    store::{self, StoreError},
    urls::BridgeUrls,
};

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("unknown tenant")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An active tenant with what most endpoints need of it.
#[derive(Clone, Debug)]
pub struct TenantContext {
    pub tenant: Tenant,
    pub issuer: String,
}

impl TenantContext {
    pub fn slug(&self) -> &str {
        self.tenant.slug.as_str()
    }
}

/// Finds tenants and what belongs to them: the pool, and the URLs to name their issuer.
#[derive(Clone)]
pub struct Tenancy {
    pool: PgPool,
    urls: BridgeUrls,
    /// Tenants by slug, whatever their status.
    cache: CoherentCache<String, Tenant>,
}

/// How long a cached tenant lives even while every event arrives.
pub const TENANT_TTL: Duration = Duration::from_secs(5);

impl Tenancy {
    pub fn new(pool: PgPool, urls: BridgeUrls) -> Self {
        Self {
            pool,
            urls,
            cache: CoherentCache::new(TENANT_TTL, 10_000),
        }
    }

    /// The cached tenants, for `crate::coherence` (events, listener state).
    pub fn cache(&self) -> &CoherentCache<String, Tenant> {
        &self.cache
    }

    /// Parses and loads the tenant; a malformed slug, an unknown or a disabled tenant are all
    /// `Unknown` (no oracle telling which tenants exist but are disabled).
    pub async fn resolve(&self, raw: &str) -> Result<TenantContext, TenantError> {
        let slug = TenantSlug::parse(raw).map_err(|_| TenantError::Unknown)?;
        let tenant = self.find(&slug).await?.ok_or(TenantError::Unknown)?;
        if tenant.status != TenantStatus::Active {
            return Err(TenantError::Unknown);
        }
        crate::telemetry::record_tenant(slug.as_str());
        Ok(TenantContext {
            issuer: self.urls.issuer(slug.as_str()),
            tenant,
        })
    }

    /// The tenant at `slug`, from memory when the cache may serve it. Unknown slugs are not
    /// cached (a tenant created elsewhere is found at once).
    async fn find(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
        if let Some(tenant) = self.cache.get(slug.as_str()).await {
            return Ok(Some(tenant));
        }
        let ticket = self.cache.ticket();
        let found = store::tenants::find_tenant(&self.pool, slug).await?;
        if let Some(tenant) = &found {
            let key = slug.as_str().to_owned();
            self.cache.insert(ticket, key, tenant.clone()).await;
        }
        Ok(found)
    }

    /// The tenant's MCP servers.
    pub async fn servers(&self, ctx: &TenantContext) -> Result<Vec<McpServer>, StoreError> {
        store::mcp_servers::list(&self.pool, ctx.tenant.id).await
    }

    /// The tenant's upstream providers, the default first.
    pub async fn providers(
        &self,
        ctx: &TenantContext,
    ) -> Result<Vec<UpstreamProvider>, StoreError> {
        store::providers::list(&self.pool, ctx.tenant.id).await
    }
}

impl From<TenantError> for crate::error::OAuthError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Unknown => crate::error::OAuthError::invalid_request("unknown tenant")
                .with_status(axum::http::StatusCode::NOT_FOUND),
            TenantError::Store(e) => e.into(),
        }
    }
}

impl From<TenantError> for crate::error::ErrorPage {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Unknown => crate::error::ErrorPage::new(
                axum::http::StatusCode::NOT_FOUND,
                "Unknown tenant",
                "There is no authorization server at this address.",
            ),
            TenantError::Store(e) => e.into(),
        }
    }
}
