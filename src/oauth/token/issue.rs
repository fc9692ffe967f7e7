//! Minting the bridge's tokens: a signed access token recorded by `jti`, and opaque rotating
//! refresh tokens recorded by hash.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    crypto::{hash, random},
    domain::Scopes,
    error::OAuthError,
    oauth::tenant::TenantContext,
    state::AppState,
    store::tokens::{self, NewAccessToken},
    tokens::{AccessClaims, access, keys::Signer},
};

/// The RFC 6749 section 5.1 response body.
#[derive(Debug, Serialize, serde::Deserialize, Clone)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// What an access token is for.
pub struct Subject<'a> {
    pub grant_id: Uuid,
    pub client_pk: Uuid,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub mcp_server_id: Uuid,
    pub resource: &'a str,
    pub family_id: Option<Uuid>,
}

fn access_ttl(state: &AppState, ctx: &TenantContext) -> chrono::Duration {
    ctx.tenant
        .access_token_ttl_seconds
        .map(chrono::Duration::seconds)
        .unwrap_or_else(|| state.config.auth.access_token_ttl.to_chrono())
}

/// Signs an access token and records its `jti`, in the caller's transaction. The signer is
/// loaded by the caller *before* its transaction: a transaction must never wait for a second
/// pooled connection (under concurrent redemptions that starves the pool).
pub async fn access_token(
    conn: &mut PgConnection,
    state: &AppState,
    signer: &Signer,
    ctx: &TenantContext,
    s: &Subject<'_>,
    scopes: &Scopes,
    now: DateTime<Utc>,
) -> Result<(String, i64), OAuthError> {
    let ttl = access_ttl(state, ctx);
    let jti = Uuid::new_v4();
    let claims = AccessClaims {
        iss: ctx.issuer.clone(),
        sub: s.subject.to_owned(),
        aud: s.resource.to_owned(),
        client_id: s.client_id.to_owned(),
        scope: scopes.to_string(),
        jti,
        iat: now.timestamp(),
        exp: (now + ttl).timestamp(),
    };
    let jwt =
        access::sign(signer, &claims).map_err(|e| OAuthError::internal("sign access token", &e))?;
    let record = NewAccessToken {
        jti,
        tenant_id: ctx.tenant.id,
        grant_id: s.grant_id,
        client_pk: s.client_pk,
        family_id: s.family_id,
        mcp_server_id: s.mcp_server_id,
        subject: s.subject,
        audience: s.resource,
        scopes: scopes.to_vec(),
        issued_at: now,
        expires_at: now + ttl,
    };
    tokens::insert_access_token(conn, &record).await?;
    Ok((jwt, ttl.num_seconds()))
}

/// Creates the next refresh token of a family; its idle expiry never passes the family's end.
pub async fn refresh_token(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    family_id: Uuid,
    generation: i32,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let token = random::token();
    let expires_at = (now + state.config.auth.refresh_token_ttl.to_chrono()).min(family_expires_at);
    tokens::insert_refresh_token(
        conn,
        &hash::sha256(token.as_bytes()),
        family_id,
        tenant_id,
        generation,
        expires_at,
    )
    .await?;
    Ok(token)
}
