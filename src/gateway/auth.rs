//! Bearer authentication of gateway requests, the first thing the gateway's handler does.
//!
//! Checks, in order: the token's signature against the tenant's keys, issuer and expiry (small
//! skew), the audience — exactly this server's resource URL, so a token for `/t/a/mcp/x` is
//! refused at `/t/a/mcp/xy` and no token is ever good for another server (no passthrough) —
//! the token and its grant still active, then the server's required scopes.

use std::sync::Arc;

use axum::{
    extract::{RawPathParams, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{
    caches::Target,
    challenge::{self, Challenge, Resource},
    target_key::{TargetKey, TargetName},
    token_cache::{PerToken, TokenKey},
    token_claims::TokenClaims,
    token_states::TokenState,
};
use crate::{
    crypto::hash,
    domain::Scopes,
    error::OAuthError,
    gateway::GatewayState,
    store,
    tokens::{
        TokenError, access,
        bearer::bearer,
        validate::{Refused, standing},
    },
};

/// A request that passed authentication.
#[derive(Clone)]
pub struct Authenticated {
    pub target: Arc<Target>,
    pub claims: Arc<TokenClaims>,
    pub grant_id: uuid::Uuid,
    /// The token's hash and its entry in the per-token cache, where the assertion signed for
    /// it is kept (`handler.rs`).
    pub token: TokenKey,
    pub entry: Arc<PerToken>,
}

/// Authenticates a gateway request for the MCP server its path names; `Err` is the finished
/// answer (404 for an unknown server, a 401/403 challenge, 503 while the database is down).
///
/// Called by the handler itself rather than run as a middleware layer: `from_fn_with_state`
/// boxed the inner service, its future and the `Next` handle per request, and the result went
/// through the request's extensions (one more allocation) to be cloned back out (issue 13,
/// item 2).
pub(super) async fn authenticate_request(
    state: &GatewayState,
    params: &RawPathParams,
    request: Request,
) -> Result<(Authenticated, Request), Response> {
    let param = |wanted: &str| {
        params
            .iter()
            .find_map(|(name, value)| (name == wanted).then_some(value))
    };
    let (Some(t), Some(s)) = (param("tenant"), param("server")) else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let target = match target(state, t, s).await {
        Ok(Some(target)) => target,
        Ok(None) => {
            return Err(OAuthError::invalid_request("unknown MCP server")
                .with_status(StatusCode::NOT_FOUND)
                .into_response());
        }
        Err(Challenge::DatabaseUnavailable) => return Err(database_unavailable(request).await),
        Err(_) => return Err(Challenge::Internal.into_response(&Resource::NONE)),
    };
    let resource = Resource {
        metadata_url: &target.metadata_url,
        scopes: &target.scopes,
    };
    match authenticate(state, &target, request.headers()).await {
        Ok(authenticated) => Ok((authenticated, request)),
        Err(Challenge::DatabaseUnavailable) => Err(database_unavailable(request).await),
        Err(challenge) => Err(challenge.into_response(&resource)),
    }
}

/// The 503 for a request the database's unavailability stopped, as a JSON-RPC error with the
/// request's id when its body (read here, bounded in size and time) is a JSON-RPC request.
pub(super) async fn database_unavailable(request: Request) -> Response {
    const MAX_BODY: usize = 64 * 1024;
    let read = axum::body::to_bytes(request.into_body(), MAX_BODY);
    let body = tokio::time::timeout(std::time::Duration::from_secs(1), read).await;
    let id = match body {
        Ok(Ok(bytes)) => super::upstream_error::rpc_id(&bytes),
        _ => None,
    };
    challenge::database_unavailable(id.as_ref())
}

/// A database failure while authenticating: 503 when the database is unavailable, else a
/// logged 500.
fn store_failure(context: &'static str, e: &store::StoreError) -> Challenge {
    if e.is_unavailable() {
        store::unavailable::record("gateway", context, e);
        Challenge::DatabaseUnavailable
    } else {
        tracing::error!(error = %e, context, "internal error");
        Challenge::Internal
    }
}

async fn target(state: &GatewayState, t: &str, s: &str) -> Result<Option<Arc<Target>>, Challenge> {
    let name: &dyn TargetName = &(t, s);
    if let Some(hit) = state.gateway.targets.get(name).await {
        return Ok(Some(hit));
    }
    let ctx = match state.tenancy.resolve(t).await {
        Ok(ctx) => ctx,
        Err(crate::tenancy::TenantError::Unknown) => return Ok(None),
        Err(crate::tenancy::TenantError::Store(e)) => {
            return Err(store_failure("gateway tenant", &e));
        }
    };
    let servers = state
        .tenancy
        .servers(&ctx)
        .await
        .map_err(|e| store_failure("gateway servers", &e))?;
    let Some(server) = servers.into_iter().find(|x| x.name.as_str() == s) else {
        return Ok(None);
    };
    let upstream = server.upstream_url.clone();
    let policy = super::enforce::load(state, &server)
        .await
        .map_err(|e| store_failure("gateway policy", &e))?;
    let target = Arc::new(Target {
        resource_url: state.resource_url(ctx.slug(), server.name.as_str()),
        metadata_url: state
            .urls
            .protected_resource_metadata(ctx.slug(), server.name.as_str()),
        scopes: challenge_scopes(
            server
                .scopes
                .clone()
                .unwrap_or_else(|| ctx.tenant.scopes.clone()),
            &server.required_scopes,
            policy.policy.as_deref().map(|p| p.step_up_scopes()),
        ),
        upstream,
        ctx,
        server,
        policy,
    });
    let key = TargetKey::new(t, s);
    state.gateway.targets.insert(key, target.clone()).await;
    Ok(Some(target))
}

/// The scopes a `401` asks for: what the server offers, less those only its policy's step-up
/// rules need (unless the server requires them to get in at all). MCP clients ask for the
/// challenge's `scope` first and register with it; offering a step-up scope there hands it to
/// every client at its first login, and the step-up (`403 insufficient_scope`, `enforce.rs`)
/// then never happens. The protected-resource metadata still lists every scope. When every
/// offered scope is a step-up one, all are asked for: an empty `scope` would get a client
/// nowhere.
fn challenge_scopes<'a>(
    offered: Vec<String>,
    required: &[String],
    step_up: Option<impl Iterator<Item = &'a str>>,
) -> Vec<String> {
    let Some(step_up) = step_up else {
        return offered;
    };
    let step_up: Vec<&str> = step_up
        .filter(|s| !required.iter().any(|r| r == s))
        .collect();
    let entry: Vec<String> = offered
        .iter()
        .filter(|s| !step_up.contains(&s.as_str()))
        .cloned()
        .collect();
    if entry.is_empty() { offered } else { entry }
}

async fn authenticate(
    state: &GatewayState,
    target: &Arc<Target>,
    headers: &axum::http::HeaderMap,
) -> Result<Authenticated, Challenge> {
    let token = bearer(headers).ok_or(Challenge::Missing)?;
    let now = Utc::now();
    let leeway = state.config.auth.clock_skew.get().as_secs();
    let key = hash::sha256(token.as_bytes());
    // One entry per token (`token_cache.rs`): concurrent misses share one verification.
    let entry = state
        .gateway
        .tokens
        .claims(key, || async {
            access::verify(
                &state.keys,
                target.ctx.tenant.id,
                &target.ctx.issuer,
                token,
                now,
                leeway,
            )
            .await
            .map_err(|e| match e {
                TokenError::Expired => Challenge::InvalidToken("the token has expired"),
                // The keys come from the database. `tokens::keys` flattens a failed load
                // into `StoreError::Corrupt`, so every store failure here is taken as the
                // database being unavailable (503, as before), logged with its cause.
                TokenError::Store(e) => {
                    store::unavailable::record("gateway", "signing keys", &e);
                    Challenge::DatabaseUnavailable
                }
                _ => Challenge::InvalidToken("the token is invalid"),
            })
        })
        .await?;
    let claims = &entry.claims;
    if claims.exp.saturating_add(leeway as i64) < now.timestamp() {
        return Err(Challenge::InvalidToken("the token has expired"));
    }
    crate::telemetry::record_client_id(&claims.client_id);
    if *claims.aud != *target.resource_url {
        return Err(Challenge::InvalidToken(
            "the token was not issued for this MCP server",
        ));
    }
    // Trusted for minutes while revocations are pushed, else 1 s (`token_states.rs`); when it
    // stops being trusted, concurrent requests share one lookup.
    let (tenant_id, jti) = (target.ctx.tenant.id, claims.jti);
    let token_state = state
        .gateway
        .tokens
        .state(key, &entry, || async {
            match store::access_tokens::access_token_state(&state.pool, tenant_id, jti).await {
                Ok(Some(found)) => Ok(TokenState::from(&found)),
                Ok(None) => Err(Challenge::InvalidToken("the token has been revoked")),
                Err(e) => Err(store_failure("token state", &e)),
            }
        })
        .await?;
    standing(token_state.revoked, token_state.grant_status).map_err(|refused| match refused {
        Refused::NeedsReauth => Challenge::InvalidToken("the user must authorize again"),
        _ => Challenge::InvalidToken("the token has been revoked"),
    })?;
    let granted = |wanted: &String| claims.scope.split(' ').any(|s| s == wanted);
    if !target.server.required_scopes.iter().all(granted) {
        let required = Scopes::from_trusted(target.server.required_scopes.clone());
        return Err(Challenge::InsufficientScope(required.to_string()));
    }
    Ok(Authenticated {
        target: target.clone(),
        claims: entry.claims.clone(),
        grant_id: token_state.grant_id,
        token: key,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::challenge_scopes;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_401_leaves_out_step_up_scopes_unless_required_or_nothing_would_remain() {
        let offered = strings(&["mcp", "mcp:admin"]);
        let step_up = || Some(["mcp:admin"].into_iter());
        assert_eq!(
            challenge_scopes(offered.clone(), &[], step_up()),
            strings(&["mcp"])
        );
        assert_eq!(
            challenge_scopes(offered.clone(), &strings(&["mcp:admin"]), step_up()),
            offered
        );
        assert_eq!(
            challenge_scopes(offered.clone(), &[], None::<std::iter::Empty<&str>>),
            offered
        );
        let only = strings(&["mcp:admin"]);
        assert_eq!(challenge_scopes(only.clone(), &[], step_up()), only);
    }
}
