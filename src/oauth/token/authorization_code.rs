//! `grant_type=authorization_code` (RFC 6749 section 4.1.3, OAuth 2.1): PKCE, exact redirect URI,
//! matching resource, single use; a replayed code revokes every token issued from it
//! (RFC 9700 section 4.2.4).

use crate::tenancy::TenantContext;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{
    issue::{self, Subject, TokenResponse},
    request::CodeRequest,
};
use crate::{
    crypto::hash,
    domain::{AuthorizationCode, Client, Grant, GrantStatus, GrantType},
    error::{ErrorCode, OAuthError},
    oauth::OAuthState,
    store::{self, codes::Redemption, tokens::NewFamily},
    tokens::keys::Signer,
};

pub async fn exchange(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    request: &CodeRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let code_hash = hash::sha256(request.code.as_bytes());
    let now = Utc::now();
    // Loaded before the transaction: a transaction must never wait for a second pooled
    // connection, or concurrent redemptions starve the pool while holding the code's row lock.
    let signer = state.keys.signer(ctx.tenant.id).await?;
    let mut tx = state
        .pool
        .begin()
        .await
        .map_err(|e| OAuthError::database("begin", e))?;
    let record = match store::codes::redeem(&mut tx, ctx.tenant.id, &code_hash).await? {
        Redemption::Redeemed(record) => record,
        Redemption::Unknown => return Err(OAuthError::invalid_grant("unknown authorization code")),
        Redemption::Replayed => {
            revoke_replayed(state, ctx, client, tx, &code_hash, now).await?;
            return Err(OAuthError::invalid_grant("authorization code already used"));
        }
    };
    // From here the code is spent whatever happens: a failed check must not leave it usable for
    // another guess (e.g. brute-forcing the verifier).
    let checked = check(client, request, &record, now);
    let grant = store::grants::find(&mut *tx, record.grant_id).await?;
    let checked = checked.and_then(|()| match grant {
        Some(g) if g.status == GrantStatus::Active => Ok(g),
        _ => Err(OAuthError::invalid_grant(
            "the grant behind this code is no longer active",
        )),
    });
    let grant = match checked {
        Ok(grant) => grant,
        Err(e) => {
            tx.commit()
                .await
                .map_err(|e| OAuthError::database("commit", e))?;
            return Err(e);
        }
    };
    let response = issue_tokens(&mut tx, state, ctx, client, &signer, &record, &grant, now).await?;
    tx.commit()
        .await
        .map_err(|e| OAuthError::database("commit", e))?;
    Ok(response)
}

/// A replayed code: every family issued from it is revoked on the redeeming transaction, and
/// announced on it, so every replica hears of it exactly when it commits.
async fn revoke_replayed(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    mut tx: Transaction<'_, Postgres>,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let revoked =
        store::tokens::revoke_families_from_code(&mut tx, ctx.tenant.id, code_hash, now).await?;
    let event = crate::coherence::CacheEvent::TokensRevoked;
    crate::coherence::announce_in(&mut tx, &event).await?;
    tx.commit()
        .await
        .map_err(|e| OAuthError::database("commit", e))?;
    crate::coherence::apply(&state.caches, &event).await;
    tracing::warn!(client = %client.client_id, revoked_families = revoked, "authorization code replayed; tokens issued from it revoked");
    Ok(())
}

/// The refresh family and tokens a redeemed code yields, written on the redeeming transaction.
#[allow(
    clippy::too_many_arguments,
    reason = "the one call site names each piece"
)]
async fn issue_tokens(
    conn: &mut PgConnection,
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    signer: &Signer,
    record: &AuthorizationCode,
    grant: &Grant,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let family_id = Uuid::new_v4();
    let family_expires_at = now + state.config.auth.refresh_family_max_lifetime.to_chrono();
    store::tokens::insert_family(
        &mut *conn,
        &NewFamily {
            id: family_id,
            tenant_id: ctx.tenant.id,
            grant_id: grant.id,
            client_pk: client.id,
            mcp_server_id: record.mcp_server_id,
            code_hash: Some(&record.code_hash),
            scopes: record.scopes.to_vec(),
            resource: &record.resource,
            absolute_expires_at: family_expires_at,
        },
    )
    .await?;
    let subject = Subject {
        grant_id: grant.id,
        client_pk: client.id,
        client_id: &client.client_id,
        subject: &grant.subject,
        mcp_server_id: record.mcp_server_id,
        resource: &record.resource,
        family_id: Some(family_id),
    };
    let (access_token, expires_in) = issue::access_token(
        &mut *conn,
        state,
        signer,
        ctx,
        &subject,
        &record.scopes,
        now,
    )
    .await?;
    let refresh = if client.allows(GrantType::RefreshToken) {
        Some(
            issue::refresh_token(
                &mut *conn,
                state,
                ctx.tenant.id,
                family_id,
                1,
                family_expires_at,
                now,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        refresh_token: refresh,
        scope: record.scopes.to_string(),
    })
}

fn check(
    client: &Client,
    request: &CodeRequest<'_>,
    record: &AuthorizationCode,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    if record.client_pk != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if record.redirect_uri != request.redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    if let Some(resource) = request.resource
        && resource.trim_end_matches('/') != record.resource
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource differs from the authorization request",
        ));
    }
    match record.code_challenge.verify(request.code_verifier) {
        Ok(true) => Ok(()),
        Ok(false) => Err(OAuthError::invalid_grant("PKCE verification failed")),
        Err(e) => Err(OAuthError::invalid_grant(e.to_string())),
    }
}
