//! Loading a user context on a cache miss: userinfo with the grant's upstream token; an upstream
//! 401 refreshes the token once (through the refresh coordinator) and retries once.

use uuid::Uuid;

use super::{upstream_token, user_cache::LoadError};
use crate::{
    domain::UserContext,
    oauth::tenant::{self, TenantContext},
    state::AppState,
    store,
    upstream::{UpstreamError, userinfo},
};

fn from_upstream(e: UpstreamError) -> LoadError {
    match e {
        UpstreamError::Unavailable { retry_after, .. } => {
            LoadError::Unavailable(retry_after.unwrap_or(1))
        }
        UpstreamError::Rejected(_) => LoadError::NeedsReauth,
        other => LoadError::Failed(other.to_string()),
    }
}

pub async fn load(
    state: AppState,
    ctx: TenantContext,
    grant: Uuid,
) -> Result<UserContext, LoadError> {
    let failed = |e: &dyn std::fmt::Display| LoadError::Failed(e.to_string());
    let (provider_id, extra) = store::grants::upstream_extra(&state.pool, grant)
        .await
        .map_err(|e| failed(&e))?
        .ok_or(LoadError::NeedsReauth)?;
    let providers = tenant::providers(&state, &ctx)
        .await
        .map_err(|e| failed(&e))?;
    let provider = providers
        .into_iter()
        .find(|p| p.id == provider_id)
        .ok_or(LoadError::NeedsReauth)?;
    let endpoints = state
        .upstream
        .endpoints(ctx.slug(), &provider)
        .await
        .map_err(from_upstream)?;
    let token = upstream_token::current(&state, grant).await?;
    let Some(url) = endpoints.userinfo else {
        // No userinfo endpoint (ID-token-only providers): the context stored at login.
        let grant = store::grants::find(&state.pool, grant)
            .await
            .map_err(|e| failed(&e))?
            .ok_or(LoadError::NeedsReauth)?;
        return serde_json::from_value(grant.user_context).map_err(|e| failed(&e));
    };
    match userinfo::fetch(state.upstream.http(), &provider, &url, &token, &extra).await {
        Ok(user) => Ok(user),
        Err(UpstreamError::Rejected(_)) => {
            let fresh = upstream_token::after_rejection(&state, grant, &token).await?;
            userinfo::fetch(state.upstream.http(), &provider, &url, &fresh, &extra)
                .await
                .map_err(from_upstream)
        }
        Err(e) => Err(from_upstream(e)),
    }
}
