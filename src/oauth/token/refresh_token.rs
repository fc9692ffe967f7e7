//! `grant_type=refresh_token` with rotation on every use (OAuth 2.1 section 4.3.1).
//!
//! Concurrent presentations of one token are serialised by a row lock. The first rotates; a
//! reuse of the just-rotated token within `auth.refresh_grace_period` gets the very same
//! response (clients retry refreshes whose answer they lost, sometimes from two places); a reuse
//! after that is treated as theft and revokes the whole family and its access tokens — also
//! once the sweeper has deleted the rotated token's row (its tagged form names the family).
//!
//! Round trips (issue 13). A refresh is two statements on one connection: a plain read of the
//! token with its family and grant, then — the response signed and sealed in between — one
//! rotation statement, its own transaction, that writes everything only if the token is still
//! active (`store::tokens::rotate`: the row lock serialises it with any concurrent rotation or
//! revocation, which it then sees). The tenant and the client come from memory
//! (`tenancy`, `client_cache`). Everything else — a token already rotated (grace,
//! reuse), revoked, unknown, or a rotation that lost a race — takes the locked path: `BEGIN`,
//! the read `FOR UPDATE`, the decision, `COMMIT`.

use crate::tenancy::TenantContext;
use chrono::{DateTime, Utc};

use super::{
    issue::{self, Subject, TokenResponse},
    request::RefreshRequest,
};
use crate::{
    crypto::hash,
    domain::{Client, GrantStatus, RefreshStatus, Scopes},
    error::{ErrorCode, OAuthError},
    oauth::OAuthState,
    store::{self, tokens::LockedRefresh},
};

fn grace_aad(token_hash: &[u8]) -> String {
    format!("refresh:{}:grace", crate::crypto::hash::hex(token_hash))
}

pub async fn exchange(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    request: &RefreshRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let token_hash = hash::sha256(request.refresh_token.as_bytes());
    let now = Utc::now();
    // Loaded before the first round trip, so no statement waits for a second connection.
    let signer = state.keys.signer(ctx.tenant.id).await?;
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| OAuthError::database("refresh connection", e))?;
    if let Some(found) = store::tokens::find_refresh_token(&mut conn, &token_hash).await?
        && found.status == RefreshStatus::Active
    {
        let rotation = Rotate {
            state,
            signer: &signer,
            ctx,
            client,
            token_hash: &token_hash,
            now,
        };
        if let Some(response) = rotation.run(&mut conn, request, &found).await? {
            return Ok(response);
        }
        // It stopped being active since it was read: the locked path sees what it became.
    }
    drop(conn);
    exchange_locked(state, &signer, ctx, client, request, &token_hash, now).await
}

/// The locked path: a token that is not (or no longer) active, or unknown.
async fn exchange_locked(
    state: &OAuthState,
    signer: &crate::tokens::keys::Signer,
    ctx: &TenantContext,
    client: &Client,
    request: &RefreshRequest<'_>,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let commit = |e: sqlx::Error| OAuthError::database("refresh transaction", e);
    let mut tx = state.pool.begin().await.map_err(commit)?;
    let Some(locked) = store::tokens::lock_refresh_token(&mut tx, token_hash).await? else {
        return replay_of_swept(state, tx, ctx, client, request.refresh_token, now).await;
    };
    owned(&locked, ctx, client)?;
    if locked.status == RefreshStatus::Rotated {
        if let (Some(until), Some(sealed)) = (locked.grace_until, &locked.grace_response)
            && until > now
        {
            let json = state
                .sealer
                .open(sealed, &grace_aad(token_hash))
                .map_err(|e| OAuthError::internal("grace response", &e))?;
            tracing::info!(client = %client.client_id, "refresh retried within the grace period; same successor returned");
            return serde_json::from_slice(&json)
                .map_err(|e| OAuthError::internal("grace response", &e));
        }
        return revoke_on_reuse(state, tx, client, locked.family_id, now).await;
    }
    // Active under the lock: the rotation statement runs in this transaction and cannot lose.
    let rotation = Rotate {
        state,
        signer,
        ctx,
        client,
        token_hash,
        now,
    };
    let response = rotation
        .run(&mut tx, request, &locked)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("refresh token already used"))?;
    tx.commit().await.map_err(commit)?;
    Ok(response)
}

/// The token belongs to this tenant and client, and neither it nor its family is revoked.
fn owned(found: &LockedRefresh, ctx: &TenantContext, client: &Client) -> Result<(), OAuthError> {
    if found.tenant_id != ctx.tenant.id || found.client_pk != client.id {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    }
    if found.family_revoked || found.status == RefreshStatus::Revoked {
        return Err(OAuthError::invalid_grant("refresh token revoked"));
    }
    Ok(())
}

fn check(
    request: &RefreshRequest<'_>,
    locked: &LockedRefresh,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    if locked.expires_at <= now || locked.family_expires_at <= now {
        return Err(OAuthError::invalid_grant("refresh token expired"));
    }
    if locked.grant_status != GrantStatus::Active {
        return Err(OAuthError::invalid_grant("the user must authorize again"));
    }
    if let Some(resource) = request.resource
        && resource.trim_end_matches('/') != locked.resource
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource differs from the original grant",
        ));
    }
    Ok(())
}

/// Scope may narrow, never widen (RFC 6749 section 6).
fn narrowed_scopes(
    request: &RefreshRequest<'_>,
    locked: &LockedRefresh,
) -> Result<Scopes, OAuthError> {
    let granted = Scopes::from_trusted(locked.scopes.clone());
    match request.scope {
        None => Ok(granted),
        Some(s) => {
            let asked = Scopes::parse(s)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if asked.is_subset_of(&granted) {
                Ok(asked)
            } else {
                Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds the original grant",
                ))
            }
        }
    }
}

/// A rotated token presented after its grace period: theft (RFC 9700 section 4.14.2). The whole
/// family and its access tokens are revoked.
async fn revoke_on_reuse(
    state: &OAuthState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    client: &Client,
    family_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    store::tokens::revoke_family(&mut tx, family_id, "reuse", now).await?;
    // Announced on the transaction: every replica hears of it exactly when it commits.
    let event = crate::coherence::CacheEvent::TokensRevoked;
    crate::coherence::announce_in(&mut tx, &event).await?;
    tx.commit()
        .await
        .map_err(|e| OAuthError::database("refresh transaction", e))?;
    crate::coherence::apply(&state.caches, &event).await;
    tracing::warn!(client = %client.client_id, family = %family_id, "rotated refresh token reused; family revoked");
    Err(OAuthError::invalid_grant("refresh token already used"))
}

/// No row has this token's hash. The sweeper deletes rotated tokens once their grace period is
/// over, so a tagged token naming an earlier generation of a live family of this client is a
/// reuse like any other, detected from the family's newest generation; anything else is unknown.
async fn replay_of_swept(
    state: &OAuthState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    ctx: &TenantContext,
    client: &Client,
    token: &str,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let unknown = || Err(OAuthError::invalid_grant("unknown refresh token"));
    let Some((family_id, generation)) = issue::tagged_family(token) else {
        return unknown();
    };
    let Some(head) = store::tokens::family_head(&mut tx, family_id).await? else {
        return unknown();
    };
    if head.tenant_id != ctx.tenant.id || head.client_pk != client.id {
        return unknown();
    }
    if head.revoked {
        return Err(OAuthError::invalid_grant("refresh token revoked"));
    }
    match head.generation {
        Some(newest) if generation < newest => {
            revoke_on_reuse(state, tx, client, family_id, now).await
        }
        _ => unknown(),
    }
}

/// One rotation of an active token: what it is minted, signed and sealed with.
struct Rotate<'a> {
    state: &'a OAuthState,
    signer: &'a crate::tokens::keys::Signer,
    ctx: &'a TenantContext,
    client: &'a Client,
    token_hash: &'a [u8],
    now: DateTime<Utc>,
}

impl Rotate<'_> {
    /// Checks the token, mints its successor and an access token, and rotates it in one
    /// statement on `conn`. `None`: the token was no longer active when the statement ran.
    async fn run(
        &self,
        conn: &mut sqlx::PgConnection,
        request: &RefreshRequest<'_>,
        found: &LockedRefresh,
    ) -> Result<Option<TokenResponse>, OAuthError> {
        let (state, client, now) = (self.state, self.client, self.now);
        owned(found, self.ctx, client)?;
        let scopes = narrowed_scopes(request, found)?;
        check(request, found, now)?;
        let successor = issue::mint_refresh_token(
            state,
            found.family_id,
            found.generation + 1,
            found.family_expires_at,
            now,
        );
        let subject = Subject {
            grant_id: found.grant_id,
            client_pk: client.id,
            client_id: &client.client_id,
            subject: &found.subject,
            mcp_server_id: found.mcp_server_id,
            resource: &found.resource,
            family_id: Some(found.family_id),
        };
        let access =
            issue::sign_access_token(state, self.signer, self.ctx, &subject, &scopes, now)?;
        let response = TokenResponse {
            access_token: access.jwt,
            token_type: "Bearer".into(),
            expires_in: access.expires_in,
            refresh_token: Some(successor.token),
            scope: scopes.to_string(),
        };
        let json = serde_json::to_vec(&response).map_err(|e| OAuthError::internal("encode", &e))?;
        let sealed = state.sealer.seal(&json, &grace_aad(self.token_hash));
        let rotated = store::tokens::rotate(
            conn,
            &store::tokens::Rotation {
                token_hash: self.token_hash,
                now,
                grace_until: now + state.config.auth.refresh_grace_period.to_chrono(),
                grace_response: &sealed,
                family_id: found.family_id,
                generation: found.generation,
                successor_hash: &successor.hash,
                successor_expires_at: successor.expires_at,
                access: &access.record,
            },
        )
        .await?;
        Ok(rotated.then_some(response))
    }
}
