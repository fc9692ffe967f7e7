//! Resolving the `{tenant}` path segment to an active tenant, once per request.

use crate::{
    domain::{
        McpServer, TenantSlug, UpstreamProvider,
        tenant::{Tenant, TenantStatus},
    },
    state::AppState,
    store::{self, StoreError},
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

/// Parses and loads the tenant; a malformed slug, an unknown or a disabled tenant are all
/// `Unknown` (no oracle telling which tenants exist but are disabled).
pub async fn resolve(state: &AppState, raw: &str) -> Result<TenantContext, TenantError> {
    let slug = TenantSlug::parse(raw).map_err(|_| TenantError::Unknown)?;
    let tenant = store::tenants::find_tenant(&state.pool, &slug)
        .await?
        .ok_or(TenantError::Unknown)?;
    if tenant.status != TenantStatus::Active {
        return Err(TenantError::Unknown);
    }
    Ok(TenantContext {
        issuer: state.issuer(slug.as_str()),
        tenant,
    })
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

/// The tenant's MCP servers.
pub async fn servers(state: &AppState, ctx: &TenantContext) -> Result<Vec<McpServer>, StoreError> {
    store::mcp_servers::list(&state.pool, ctx.tenant.id).await
}

/// The tenant's upstream providers, the default first.
pub async fn providers(
    state: &AppState,
    ctx: &TenantContext,
) -> Result<Vec<UpstreamProvider>, StoreError> {
    store::providers::list(&state.pool, ctx.tenant.id).await
}
