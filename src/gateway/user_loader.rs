//! Loading a user context on a cache miss: userinfo with the grant's upstream token; an upstream
//! 401 refreshes the token once (through the refresh coordinator) and retries once. The mapped
//! claims of the login's ID token, kept with the grant, are merged in (userinfo's win).
//!
//! A transient userinfo failure (timeout, connection error, 5xx, 429) is retried a few times
//! with a short backoff, all within [`DEADLINE`]: userinfo is a GET, safe to repeat (RFC 9110
//! §9.2.2), and one IdP hiccup must not fail every request waiting on this load. Each failed
//! attempt is logged with the grant id and the cause (never the token).

use std::time::Duration;

use tokio::time::Instant;
use url::Url;
use uuid::Uuid;

use super::{upstream_token, user_cache::LoadError};
use crate::{
    domain::{ClaimMapping, UserContext, claims, user_context::stored_id_token_claims},
    gateway::GatewayState,
    store,
    tenancy::TenantContext,
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
    state: GatewayState,
    ctx: TenantContext,
    grant: Uuid,
) -> Result<UserContext, LoadError> {
    let failed = |e: &dyn std::fmt::Display| LoadError::Failed(e.to_string());
    let (provider_id, extra) = store::grants::upstream_extra(&state.pool, grant)
        .await
        .map_err(|e| LoadError::from_store(&e))?
        .ok_or(LoadError::NeedsReauth)?;
    let providers = state
        .tenancy
        .providers(&ctx)
        .await
        .map_err(|e| LoadError::from_store(&e))?;
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
            .map_err(|e| LoadError::from_store(&e))?
            .ok_or(LoadError::NeedsReauth)?;
        return serde_json::from_value(grant.user_context).map_err(|e| failed(&e));
    };
    let call = Userinfo {
        state: &state,
        provider: &provider,
        url: &url,
        extra: &extra,
        grant,
    };
    let user = match call.fetch_with_retries(&token).await {
        Ok(user) => user,
        Err(UpstreamError::Rejected(_)) => {
            let fresh = upstream_token::after_rejection(&state, grant, &token).await?;
            call.fetch_with_retries(&fresh)
                .await
                .map_err(from_upstream)?
        }
        Err(e) => return Err(from_upstream(e)),
    };
    with_id_token_claims(&state, &provider, grant, user).await
}

/// `user` (from userinfo) with the mapped claims of the login's ID token that it lacks. Only a
/// provider with a claim mapping has any: the others cost no query.
async fn with_id_token_claims(
    state: &GatewayState,
    provider: &crate::domain::UpstreamProvider,
    grant: Uuid,
    mut user: UserContext,
) -> Result<UserContext, LoadError> {
    if ClaimMapping::from_settings(&provider.settings).is_empty() {
        return Ok(user);
    }
    let stored = store::grants::find(&state.pool, grant)
        .await
        .map_err(|e| LoadError::from_store(&e))?
        .ok_or(LoadError::NeedsReauth)?;
    let id_token = stored_id_token_claims(&stored.user_context);
    user.mapped = claims::merge(std::mem::take(&mut user.mapped), &id_token);
    Ok(user)
}

/// Attempts at most, for transient failures.
const ATTEMPTS: u32 = 3;
/// Waits before the second and the third attempt (longer when the IdP's `Retry-After` says so
/// and the deadline allows it).
const BACKOFF: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(400)];
/// All attempts of one load end within this (the upstream client's own per-call timeout): the
/// waiting requests then get the stale context or a 503, never a longer wait.
const DEADLINE: Duration = Duration::from_secs(15);

struct Userinfo<'a> {
    state: &'a GatewayState,
    provider: &'a crate::domain::UpstreamProvider,
    url: &'a Url,
    extra: &'a serde_json::Value,
    grant: Uuid,
}

impl Userinfo<'_> {
    async fn fetch_with_retries(&self, token: &str) -> Result<UserContext, UpstreamError> {
        let deadline = Instant::now() + DEADLINE;
        let mut attempt = 1;
        loop {
            let http = self.state.upstream.http();
            let call = userinfo::fetch(http, self.provider, self.url, token, self.extra);
            let result = match tokio::time::timeout_at(deadline, call).await {
                Ok(result) => result,
                Err(_) => Err(UpstreamError::Unavailable {
                    reason: "timeout".into(),
                    retry_after: None,
                }),
            };
            let (reason, retry_after) = match &result {
                Err(UpstreamError::Unavailable {
                    reason,
                    retry_after,
                }) => (reason.clone(), *retry_after),
                _ => return result,
            };
            let wait = backoff(attempt, retry_after);
            let retry = attempt < ATTEMPTS && Instant::now() + wait < deadline;
            tracing::warn!(
                grant = %self.grant,
                provider = %self.provider.name,
                attempt,
                %reason,
                retrying = retry,
                "userinfo failed"
            );
            if !retry {
                return result;
            }
            metrics::counter!("userinfo_retries_total").increment(1);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// The wait before attempt `attempt + 1`: the backoff step, or the IdP's `Retry-After` if longer.
fn backoff(attempt: u32, retry_after: Option<u64>) -> Duration {
    let step = BACKOFF
        .get((attempt as usize).saturating_sub(1))
        .or(BACKOFF.last())
        .copied()
        .unwrap_or_default();
    step.max(Duration::from_secs(retry_after.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_and_honours_a_longer_retry_after() {
        assert_eq!(backoff(1, None), Duration::from_millis(100));
        assert_eq!(backoff(2, None), Duration::from_millis(400));
        assert_eq!(backoff(5, None), Duration::from_millis(400));
        assert_eq!(backoff(1, Some(2)), Duration::from_secs(2));
    }
}
