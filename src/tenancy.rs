//! Resolving the `{tenant}` path segment to an active tenant, once per request.
//!
//! A service shared by the OAuth endpoints and the gateway (peers: neither borrows it from
//! the other).

use sqlx::PgPool;

use crate::{
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
}

impl Tenancy {
    pub fn new(pool: PgPool, urls: BridgeUrls) -> Self {
        Self { pool, urls }
    }

    /// Parses and loads the tenant; a malformed slug, an unknown or a disabled tenant are all
    /// `Unknown` (no oracle telling which tenants exist but are disabled).
    pub async fn resolve(&self, raw: &str) -> Result<TenantContext, TenantError> {
        let slug = TenantSlug::parse(raw).map_err(|_| TenantError::Unknown)?;
        let tenant = store::tenants::find_tenant(&self.pool, &slug)
            .await?
            .ok_or(TenantError::Unknown)?;
        if tenant.status != TenantStatus::Active {
            return Err(TenantError::Unknown);
        }
        crate::telemetry::record_tenant(slug.as_str());
        Ok(TenantContext {
            issuer: self.urls.issuer(slug.as_str()),
            tenant,
        })
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
