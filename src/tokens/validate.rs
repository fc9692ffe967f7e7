//! Full validation of a presented MCP access token: the JWT itself, then its `jti` record
//! and its grant, so revocation bites at once even though tokens are long-lived.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{AccessClaims, TenantKeys, TokenError, access};
use crate::{
    domain::GrantStatus,
    store::{self, tokens::AccessTokenState},
};

/// Why a token that verifies as a JWT is still refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the token has been revoked")]
    Revoked,
    #[error("the user must authorize again")]
    NeedsReauth,
}

pub struct Validated {
    pub claims: AccessClaims,
    pub state: AccessTokenState,
}

pub async fn validate(
    keys: &TenantKeys,
    pool: &PgPool,
    tenant_id: Uuid,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
    leeway: u64,
) -> Result<Validated, Refused> {
    let claims = access::verify(keys, tenant_id, issuer, token, now, leeway).await?;
    let state = store::tokens::access_token_state(pool, tenant_id, claims.jti)
        .await
        .map_err(TokenError::Store)?
        .ok_or(Refused::Revoked)?;
    if state.revoked {
        return Err(Refused::Revoked);
    }
    match state.grant_status {
        GrantStatus::Active => Ok(Validated { claims, state }),
        GrantStatus::NeedsReauth => Err(Refused::NeedsReauth),
        GrantStatus::Revoked => Err(Refused::Revoked),
    }
}
