//! The gateway route: requests to `/t/{tenant}/mcp/{server}/…`, once authenticated
//! ([`super::auth::authenticate_request`]), get the user's context (cached), identity headers,
//! optionally the user's upstream token, and are forwarded. When a server that receives the upstream token
//! answers 401, the upstream token is refreshed once and the request replayed once.
//!
//! The server's policy (`enforce.rs`) is applied to every server, remote-OAuth ones included:
//! they get the user's remote token instead of identity headers, but who may call which tool
//! is decided here all the same.

use std::sync::Arc;

use axum::{
    extract::{RawPathParams, Request, State},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{
    Forwarded, IdentityHeaders, assertion,
    auth::Authenticated,
    challenge::{Challenge, Resource},
    enforce::Checked,
    proxy::AdminConfigured,
    upstream_token::{self, TokenProblem},
    user_cache::CachedUser,
};
use crate::{domain::tenant::Source, gateway::GatewayState};

pub async fn proxy(
    State(state): State<GatewayState>,
    params: RawPathParams,
    request: Request,
) -> Response {
    let (auth, mut request) =
        match super::auth::authenticate_request(&state, &params, request).await {
            Ok(authenticated) => authenticated,
            Err(refused) => return refused,
        };
    let target = &auth.target;
    if target.ctx.tenant.source == Source::Api {
        request.extensions_mut().insert(AdminConfigured);
    }
    if target.server.remote_oauth {
        return remote(&state, &auth, &params, request).await;
    }
    let resource = Resource {
        metadata_url: &target.metadata_url,
        scopes: &target.scopes,
    };
    let (identity, sent_token, user) = match identity(&state, &auth).await {
        Ok(identity) => identity,
        Err(TokenProblem::DatabaseUnavailable) => {
            crate::store::unavailable::record(
                "gateway",
                "loading the user's grant",
                &TokenProblem::DatabaseUnavailable,
            );
            // The request is still here: answer in JSON-RPC with its id.
            return super::auth::database_unavailable(request).await;
        }
        Err(problem) => return token_problem(&state, &auth, problem, &resource).await,
    };
    // Per-tool policy (`enforce.rs`): decided before anything is forwarded. A server without
    // one skips it.
    let (request, lists) = if target.policy.policy.is_none() {
        (request, None)
    } else {
        match super::enforce::check(&state, &auth, user, request).await {
            Checked::Forward(forward) => *forward,
            Checked::Answered(response) => return response,
        }
    };
    state
        .gateway
        .last_used
        .note(&state.pool, auth.grant_id)
        .await;
    let rest = params
        .iter()
        .find_map(|(name, value)| (name == "rest").then_some(value))
        .unwrap_or("");
    let sent = Sent {
        identity,
        token: sent_token,
    };
    let response = forward(&state, &auth, request, rest, sent, &resource).await;
    match lists {
        Some(lists) => lists.apply(response).await,
        None => response,
    }
}

/// A request to a remote-OAuth server: the policy first (with the user context it needs, loaded
/// only when the server has a policy), then the remote's own token ([`super::remote_oauth`]).
async fn remote(
    state: &GatewayState,
    auth: &Authenticated,
    params: &RawPathParams,
    request: Request,
) -> Response {
    let (request, lists) = if auth.target.policy.policy.is_some() {
        let user = match user(state, auth).await {
            Ok(user) => user,
            Err(TokenProblem::DatabaseUnavailable) => {
                let why = "loading the user's grant";
                crate::store::unavailable::record(
                    "gateway",
                    why,
                    &TokenProblem::DatabaseUnavailable,
                );
                return super::auth::database_unavailable(request).await;
            }
            Err(problem) => {
                let resource = Resource {
                    metadata_url: &auth.target.metadata_url,
                    scopes: &auth.target.scopes,
                };
                return token_problem(state, auth, problem, &resource).await;
            }
        };
        match super::enforce::check(state, auth, user, request).await {
            Checked::Forward(forward) => *forward,
            Checked::Answered(response) => return response,
        }
    } else {
        (request, None)
    };
    let response = super::remote_oauth::proxy(state, auth, params, request).await;
    match lists {
        Some(lists) => lists.apply(response).await,
        None => response,
    }
}

/// The user context behind the token's grant, through the cache (one userinfo call per grant
/// and `auth.cache_ttl`).
async fn user(state: &GatewayState, auth: &Authenticated) -> Result<Arc<CachedUser>, TokenProblem> {
    state
        .gateway
        .users
        .get_or_load(auth.grant_id, || {
            super::user_loader::load(state.clone(), auth.target.ctx.clone(), auth.grant_id)
        })
        .await
}

/// The identity headers a request goes with, and the upstream token among them.
struct Sent {
    identity: IdentityHeaders,
    token: Option<String>,
}

/// Forwards, replaying once after a refresh when a server that receives the upstream token
/// answers 401.
async fn forward(
    state: &GatewayState,
    auth: &Authenticated,
    request: Request,
    rest: &str,
    sent: Sent,
    resource: &Resource<'_>,
) -> Response {
    let target = &auth.target;
    let Sent {
        identity,
        token: sent_token,
    } = sent;
    if !target.server.forward_upstream_token {
        return state
            .gateway
            .proxy
            .forward(request, &target.upstream, rest, &identity)
            .await;
    }
    match state
        .gateway
        .proxy
        .forward_replayable(request, &target.upstream, rest, &identity)
        .await
    {
        Forwarded::Done(response) => response,
        Forwarded::Unauthorized {
            response,
            replay: None,
        } => response,
        Forwarded::Unauthorized {
            response,
            replay: Some(replay),
        } => {
            drop(response);
            let rejected = sent_token.unwrap_or_default();
            match upstream_token::after_rejection(state, auth.grant_id, &rejected).await {
                Ok(fresh) => {
                    let identity = identity.with_upstream_token(&fresh);
                    replay.send(&state.gateway.proxy, &identity).await
                }
                Err(problem) => token_problem(state, auth, problem, resource).await,
            }
        }
    }
}

/// The identity headers for this request, and the upstream token they carry (a server that
/// opted in). They are built per request from the token's claims, the user context (loaded
/// through the cache) and values shared across users; only the assertion's signature is kept
/// per token (`token_cache.rs`), and the JWT is encoded again from it.
async fn identity(
    state: &GatewayState,
    auth: &Authenticated,
) -> Result<(IdentityHeaders, Option<String>, Arc<CachedUser>), TokenProblem> {
    let user = user(state, auth).await?;
    // Signed once per token and user context, then reused; concurrent misses for one token
    // share one signature.
    let signed = state
        .gateway
        .tokens
        .assertion(auth.token, &auth.entry, &user, || {
            signed_assertion(state, auth, &user)
        })
        .await;
    let fixed = identity_headers(auth, &user, signed.as_ref());
    if !auth.target.server.forward_upstream_token {
        return Ok((fixed, None, user));
    }
    let token = upstream_token::current(state, auth.grant_id).await?;
    Ok((fixed.with_upstream_token(&token), Some(token), user))
}

/// The `X-Auth-*` headers of `user` behind this token, with the `X-Auth-Assertion` encoded
/// from `signed` (none when signing failed: the request goes without one).
fn identity_headers(
    auth: &Authenticated,
    user: &CachedUser,
    signed: Option<&assertion::Signed>,
) -> IdentityHeaders {
    IdentityHeaders::of(
        &auth.claims,
        auth.target.ctx.slug(),
        user,
        signed,
        auth.target.policy.claim_headers,
    )
}

/// The assertion of `user` behind this token, signed now; `None` (logged) when it cannot be.
async fn signed_assertion(
    state: &GatewayState,
    auth: &Authenticated,
    user: &CachedUser,
) -> Option<assertion::Signed> {
    let signed = match state.keys.signer(auth.target.ctx.tenant.id).await {
        Ok(signer) => {
            assertion::sign(&signer, &auth.claims, user, Utc::now()).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match signed {
        Ok(signed) => Some(signed),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign the identity assertion");
            None
        }
    }
}

/// The response to an upstream problem: re-authorize (and tell every replica the grant changed),
/// retry later, or a gateway error.
async fn token_problem(
    state: &GatewayState,
    auth: &Authenticated,
    problem: TokenProblem,
    resource: &Resource<'_>,
) -> Response {
    match problem {
        TokenProblem::NeedsReauth => {
            crate::coherence::publish(
                &state.caches,
                crate::coherence::CacheEvent::GrantChanged {
                    grant: auth.grant_id,
                },
            )
            .await;
            Challenge::InvalidToken("the user must authorize again").into_response(resource)
        }
        TokenProblem::Unavailable(secs) => Challenge::Unavailable(secs).into_response(resource),
        TokenProblem::DatabaseUnavailable => {
            crate::store::unavailable::record(
                "gateway",
                "loading the user's upstream grant",
                &problem,
            );
            super::challenge::database_unavailable(None)
        }
        TokenProblem::Failed(reason) => {
            tracing::warn!(grant = %auth.grant_id, %reason, "upstream token unavailable");
            bad_gateway()
        }
    }
}

fn bad_gateway() -> Response {
    (axum::http::StatusCode::BAD_GATEWAY, axum::Json(serde_json::json!({"error": "bad_gateway", "error_description": "the identity provider answered unexpectedly"}))).into_response()
}
