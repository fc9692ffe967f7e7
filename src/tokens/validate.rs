//! Full validation of a presented MCP access token: the JWT itself, then its `jti` record
//! and its grant, so revocation bites at once even though tokens are long-lived.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{AccessClaims, TenantKeys, TokenError, access};
use crate::{
    domain::GrantStatus,
    store::{self, access_tokens::AccessTokenState},
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
    let state = store::access_tokens::access_token_state(pool, tenant_id, claims.jti)
        .await
        .map_err(TokenError::Store)?
        .ok_or(Refused::Revoked)?;
    standing(state.revoked, state.grant_status)?;
    Ok(Validated { claims, state })
}

/// Is an access token that verifies as a JWT still good? The one answer used by the gateway
/// (from its token-state cache), userinfo and introspection (from the database): a revoked
/// token or grant is refused, a grant that needs the user again is refused with that reason.
pub fn standing(token_revoked: bool, grant: GrantStatus) -> Result<(), Refused> {
    if token_revoked {
        return Err(Refused::Revoked);
    }
    match grant {
        GrantStatus::Active => Ok(()),
        GrantStatus::NeedsReauth => Err(Refused::NeedsReauth),
        GrantStatus::Revoked => Err(Refused::Revoked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unrevoked_token_of_an_active_grant_is_good() {
        assert!(standing(false, GrantStatus::Active).is_ok());
        assert!(matches!(
            standing(true, GrantStatus::Active),
            Err(Refused::Revoked)
        ));
        assert!(matches!(
            standing(false, GrantStatus::Revoked),
            Err(Refused::Revoked)
        ));
        assert!(matches!(
            standing(false, GrantStatus::NeedsReauth),
            Err(Refused::NeedsReauth)
        ));
        // A revoked token is revoked, whatever its grant says.
        assert!(matches!(
            standing(true, GrantStatus::NeedsReauth),
            Err(Refused::Revoked)
        ));
    }
}
