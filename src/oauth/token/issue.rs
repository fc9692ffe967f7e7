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
    oauth::OAuthState,
    store::{
        self,
        access_tokens::{self, NewAccessToken},
    },
    tenancy::TenantContext,
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

fn access_ttl(state: &OAuthState, ctx: &TenantContext) -> chrono::Duration {
    ctx.tenant
        .access_token_ttl_seconds
        .map(chrono::Duration::seconds)
        .unwrap_or_else(|| state.config.auth.access_token_ttl.to_chrono())
}

/// An access token signed, with the record that makes it revocable by `jti`.
pub struct SignedAccess<'a> {
    pub jwt: String,
    pub expires_in: i64,
    pub record: NewAccessToken<'a>,
}

/// Signs an access token without touching the database; the caller records `record` (the
/// refresh grant does so inside its one rotation statement).
pub fn sign_access_token<'a>(
    state: &OAuthState,
    signer: &Signer,
    ctx: &TenantContext,
    s: &Subject<'a>,
    scopes: &Scopes,
    now: DateTime<Utc>,
) -> Result<SignedAccess<'a>, OAuthError> {
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
    Ok(SignedAccess {
        jwt,
        expires_in: ttl.num_seconds(),
        record,
    })
}

/// Signs an access token and records its `jti`, in the caller's transaction. The signer is
/// loaded by the caller *before* its transaction: a transaction must never wait for a second
/// pooled connection (under concurrent redemptions that starves the pool).
pub async fn access_token(
    conn: &mut PgConnection,
    state: &OAuthState,
    signer: &Signer,
    ctx: &TenantContext,
    s: &Subject<'_>,
    scopes: &Scopes,
    now: DateTime<Utc>,
) -> Result<(String, i64), OAuthError> {
    let signed = sign_access_token(state, signer, ctx, s, scopes, now)?;
    access_tokens::insert_access_token(conn, &signed.record).await?;
    Ok((signed.jwt, signed.expires_in))
}

/// A refresh token minted but not yet recorded.
pub struct MintedRefresh {
    pub token: String,
    pub hash: [u8; 32],
    pub expires_at: DateTime<Utc>,
}

/// Mints the refresh token of generation `generation` of a family:
/// `<family, 32 hex><generation, 8 hex><random, 43 base64url>`. The random part (256 bits) is
/// the secret; the prefix lets a replay of a rotated token be recognised after the sweeper
/// deleted its row (see [`tagged_family`]). No `.` in it: `/revoke` tells JWTs by their dots.
/// Its idle expiry never passes the family's end.
pub fn mint_refresh_token(
    state: &OAuthState,
    family_id: Uuid,
    generation: i32,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> MintedRefresh {
    let token = format!(
        "{}{:08x}{}",
        family_id.simple(),
        generation,
        random::token()
    );
    let expires_at = (now + state.config.auth.refresh_token_ttl.to_chrono()).min(family_expires_at);
    MintedRefresh {
        hash: hash::sha256(token.as_bytes()),
        token,
        expires_at,
    }
}

/// Length of a tagged refresh token (opaque ones, minted before, are 43 characters).
const TAGGED_LEN: usize = 32 + 8 + 43;

/// The family and generation a tagged refresh token names, if it is one. Only consulted when
/// no row matches the token's hash: the name alone never grants anything. Forging one needs the
/// family id, which only ever appears inside that family's own tokens, so whoever can forge a
/// replay could replay a real rotated token just as well.
pub fn tagged_family(token: &str) -> Option<(Uuid, i32)> {
    if token.len() != TAGGED_LEN || !token.is_ascii() {
        return None;
    }
    let family = Uuid::try_parse(&token[..32]).ok()?;
    let generation = u32::from_str_radix(&token[32..40], 16).ok()?;
    i32::try_from(generation)
        .ok()
        .filter(|g| *g > 0)
        .map(|g| (family, g))
}

/// Creates the next refresh token of a family and records it.
pub async fn refresh_token(
    conn: &mut PgConnection,
    state: &OAuthState,
    tenant_id: Uuid,
    family_id: Uuid,
    generation: i32,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let minted = mint_refresh_token(state, family_id, generation, family_expires_at, now);
    store::tokens::insert_refresh_token(
        conn,
        &minted.hash,
        family_id,
        tenant_id,
        generation,
        minted.expires_at,
    )
    .await?;
    Ok(minted.token)
}
