//! MCP access-token records (`access_tokens`): written when a token is issued, read by the
//! "is this token still good?" check, revoked one by one (RFC 7009) or with their family.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::domain::GrantStatus;

pub struct NewAccessToken<'a> {
    pub jti: Uuid,
    pub tenant_id: Uuid,
    pub grant_id: Uuid,
    pub client_pk: Uuid,
    pub family_id: Option<Uuid>,
    pub mcp_server_id: Uuid,
    pub subject: &'a str,
    pub audience: &'a str,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Records an issued access token and marks its grant as in use (`updated_at`), so the sweeper
/// never takes a grant for an orphan while tokens are still being issued from it.
#[tracing::instrument(name = "db.access_tokens.insert_access_token", skip_all)]
pub async fn insert_access_token(
    conn: &mut PgConnection,
    t: &NewAccessToken<'_>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE grants SET updated_at = GREATEST(updated_at, $2) WHERE id = $1",
        t.grant_id,
        t.issued_at,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO access_tokens (jti, tenant_id, grant_id, client_pk, family_id, mcp_server_id,
             subject, audience, scopes, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        t.jti,
        t.tenant_id,
        t.grant_id,
        t.client_pk,
        t.family_id,
        t.mcp_server_id,
        t.subject,
        t.audience,
        &t.scopes,
        t.issued_at,
        t.expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether an access token is still good: not revoked, its grant active.
#[derive(Clone, Debug)]
pub struct AccessTokenState {
    pub grant_id: Uuid,
    pub client_pk: Uuid,
    pub revoked: bool,
    pub grant_status: GrantStatus,
    pub client_id: String,
}

#[tracing::instrument(name = "db.access_tokens.access_token_state", skip_all)]
pub async fn access_token_state(
    pool: &PgPool,
    tenant_id: Uuid,
    jti: Uuid,
) -> Result<Option<AccessTokenState>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT a.grant_id, a.client_pk, a.revoked_at IS NOT NULL AS "revoked!", g.status, c.client_id
         FROM access_tokens a JOIN grants g ON g.id = a.grant_id JOIN oauth_clients c ON c.id = a.client_pk
         WHERE a.jti = $1 AND a.tenant_id = $2"#,
        jti,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| AccessTokenState {
        grant_id: row.grant_id,
        client_pk: row.client_pk,
        revoked: row.revoked,
        grant_status: GrantStatus::parse(&row.status),
        client_id: row.client_id,
    }))
}

#[tracing::instrument(name = "db.access_tokens.revoke_access_token", skip_all)]
pub async fn revoke_access_token(
    executor: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    jti: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE access_tokens SET revoked_at = $3 WHERE jti = $1 AND tenant_id = $2 AND revoked_at IS NULL",
        jti,
        tenant_id,
        now,
    )
    .execute(executor)
    .await?;
    Ok(())
}
