//! The gateway route: authenticated (by [`super::auth::layer`]) requests to
//! `/t/{tenant}/mcp/{server}/…` get the user's context (cached), identity headers, optionally
//! the user's upstream token, and are forwarded. When a server that receives the upstream token
//! answers 401, the upstream token is refreshed once and the request replayed once.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{
    Forwarded, Identity, assertion,
    auth::Authenticated,
    challenge::{Challenge, Resource},
    upstream_token::{self, TokenProblem},
};
use crate::{domain::UserContext, state::AppState};

pub async fn proxy(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
) -> Response {
    let target = auth.target.clone();
    let resource = Resource {
        metadata_url: &target.metadata_url,
        scopes: &target.scopes,
    };
    let loader = super::user_loader::load(state.clone(), auth.target.ctx.clone(), auth.grant_id);
    let user = match state.gateway.users.get_or_load(auth.grant_id, loader).await {
        Ok(user) => user,
        Err(e) => return token_problem(&state, &auth, e, &resource).await,
    };
    let mut identity = match identity(&state, &auth, &user).await {
        Ok(identity) => identity,
        Err(response) => return response,
    };
    let rest = params.get("rest").map(String::as_str).unwrap_or("");
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
            let rejected = identity.upstream_token.take().unwrap_or_default();
            match upstream_token::after_rejection(&state, auth.grant_id, &rejected).await {
                Ok(fresh) => {
                    identity.upstream_token = Some(fresh);
                    replay.send(&state.gateway.proxy, &identity).await
                }
                Err(problem) => token_problem(&state, &auth, problem, &resource).await,
            }
        }
    }
}

async fn identity(
    state: &AppState,
    auth: &Authenticated,
    user: &Arc<UserContext>,
) -> Result<Identity, Response> {
    let target = &auth.target;
    let resource = Resource {
        metadata_url: &target.metadata_url,
        scopes: &target.scopes,
    };
    let upstream_token = if target.server.forward_upstream_token {
        match upstream_token::current(state, auth.grant_id).await {
            Ok(token) => Some(token),
            Err(problem) => return Err(token_problem(state, auth, problem, &resource).await),
        }
    } else {
        None
    };
    let assertion = signed_assertion(state, auth, user).await;
    Ok(Identity {
        subject: auth.claims.sub.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        tenant: target.ctx.slug().to_owned(),
        client_id: auth.claims.client_id.clone(),
        scopes: auth
            .claims
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        upstream_token,
        assertion,
    })
}

/// The `X-Auth-Assertion` for this token: signed once per `jti` and reused for half its
/// lifetime (concurrent requests share one signature).
async fn signed_assertion(
    state: &AppState,
    auth: &Authenticated,
    user: &Arc<UserContext>,
) -> Option<String> {
    let tenant = auth.target.ctx.tenant.id;
    let signed = state
        .gateway
        .assertions
        .try_get_with(auth.claims.jti, async {
            let signer = state.keys.signer(tenant).await.map_err(|e| e.to_string())?;
            assertion::sign(&signer, &auth.claims, user, Utc::now())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .await;
    match signed {
        Ok(jwt) => Some(jwt.as_ref().clone()),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign the identity assertion");
            None
        }
    }
}

/// The response to an upstream problem: re-authorize (and tell every replica the grant changed),
/// retry later, or a gateway error.
async fn token_problem(
    state: &AppState,
    auth: &Authenticated,
    problem: TokenProblem,
    resource: &Resource<'_>,
) -> Response {
    match problem {
        TokenProblem::NeedsReauth => {
            crate::coherence::publish(
                state,
                crate::coherence::CacheEvent::GrantChanged {
                    grant: auth.grant_id,
                },
            )
            .await;
            Challenge::InvalidToken("the user must authorize again").into_response(resource)
        }
        TokenProblem::Unavailable(secs) => Challenge::Unavailable(secs).into_response(resource),
        TokenProblem::Failed(reason) => {
            tracing::warn!(grant = %auth.grant_id, %reason, "upstream token unavailable");
            bad_gateway()
        }
    }
}

fn bad_gateway() -> Response {
    (axum::http::StatusCode::BAD_GATEWAY, axum::Json(serde_json::json!({"error": "bad_gateway", "error_description": "the identity provider answered unexpectedly"}))).into_response()
}
