//! `POST /t/{tenant}/revoke` (RFC 7009): access tokens by `jti`, refresh tokens with their whole
//! family. Unknown or foreign tokens answer 200 too (section 2.2), so the endpoint is no oracle.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{
    body::Body,
    token::{client_auth, form},
};
use crate::{crypto::hash, error::OAuthError, oauth::OAuthState, store, tokens::access};

pub async fn revoke(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let params = form(&headers, &body)?;
    let client = client_auth::authenticate(&state, &ctx, &headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = Utc::now();
    if token.bytes().filter(|b| *b == b'.').count() == 2 {
        // An access token: verified (even if expired) so a forged one revokes nothing.
        let far_future_leeway = u64::MAX / 4;
        if let Ok(claims) = access::verify(
            &state.keys,
            ctx.tenant.id,
            &ctx.issuer,
            token,
            now,
            far_future_leeway,
        )
        .await
            && claims.client_id == client.client_id
        {
            let mut tx = state
                .pool
                .begin()
                .await
                .map_err(|e| OAuthError::database("begin", e))?;
            store::access_tokens::revoke_access_token(&mut *tx, ctx.tenant.id, claims.jti, now)
                .await?;
            commit_revocation(&state, tx).await?;
            tracing::info!(client = %client.client_id, "access token revoked");
        }
    } else if let Some((family, tenant_id, client_pk)) = refresh_family(&state, token).await?
        && tenant_id == ctx.tenant.id
        && client_pk == client.id
    {
        let mut tx = state
            .pool
            .begin()
            .await
            .map_err(|e| OAuthError::database("begin", e))?;
        store::tokens::revoke_family(&mut tx, family, "revoked", now).await?;
        commit_revocation(&state, tx).await?;
        tracing::info!(client = %client.client_id, "refresh token family revoked");
    }
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Announces the revocation on its own transaction (every replica hears of it exactly when it
/// commits: no separate NOTIFY that could fail after the fact), commits, then drops this
/// replica's cached token states.
async fn commit_revocation(
    state: &OAuthState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<(), OAuthError> {
    let event = crate::coherence::CacheEvent::TokensRevoked;
    crate::coherence::announce_in(&mut tx, &event).await?;
    tx.commit()
        .await
        .map_err(|e| OAuthError::database("commit", e))?;
    crate::coherence::apply(&state.caches, &event).await;
    Ok(())
}

/// The family of a refresh token: by its row, or, for a rotated token whose row the sweeper
/// already deleted, by the family its tagged form names when that family has moved past the
/// token's generation (exactly the tokens the refresh grant would treat as a reuse).
async fn refresh_family(
    state: &OAuthState,
    token: &str,
) -> Result<Option<(uuid::Uuid, uuid::Uuid, uuid::Uuid)>, OAuthError> {
    let hash = hash::sha256(token.as_bytes());
    if let Some(found) = store::tokens::family_of_refresh_token(&state.pool, &hash).await? {
        return Ok(Some(found));
    }
    let Some((family, generation)) = super::token::issue::tagged_family(token) else {
        return Ok(None);
    };
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| OAuthError::database("revoke", e))?;
    Ok(store::tokens::family_head(&mut conn, family)
        .await?
        .filter(|head| head.generation.is_some_and(|newest| generation < newest))
        .map(|head| (family, head.tenant_id, head.client_pk)))
}
