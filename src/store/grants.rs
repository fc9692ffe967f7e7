//! Grants: the upstream tokens of one user's login through one client, sealed at rest.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;
use crate::{
    crypto::{Sealed, Sealer},
    domain::{Grant, GrantStatus, UpstreamTokens},
};

/// The AAD that binds a sealed upstream token to its grant and role.
pub fn aad(grant_id: Uuid, which: &str) -> String {
    format!("grant:{grant_id}:{which}")
}

pub struct NewGrant<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider_id: Uuid,
    pub client_pk: Uuid,
    pub subject: &'a str,
    pub user_context: &'a serde_json::Value,
    pub tokens: &'a UpstreamTokens,
}

/// Seals the upstream tokens and inserts the grant.
pub async fn insert(
    conn: &mut PgConnection,
    sealer: &Sealer,
    g: &NewGrant<'_>,
) -> Result<(), StoreError> {
    let access = sealer.seal_str(&g.tokens.access_token, &aad(g.id, "access"));
    let refresh = g
        .tokens
        .refresh_token
        .as_deref()
        .map(|r| sealer.seal_str(r, &aad(g.id, "refresh")));
    sqlx::query(
        "INSERT INTO grants (id, tenant_id, provider_id, client_pk, subject, user_context,
             upstream_access_token, upstream_access_key_id, upstream_access_expires_at,
             upstream_refresh_token, upstream_refresh_key_id, upstream_refresh_expires_at,
             upstream_scopes, upstream_extra)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(g.id)
    .bind(g.tenant_id)
    .bind(g.provider_id)
    .bind(g.client_pk)
    .bind(g.subject)
    .bind(g.user_context)
    .bind(&access.blob)
    .bind(&access.key_id)
    .bind(g.tokens.access_expires_at)
    .bind(refresh.as_ref().map(|s| &s.blob))
    .bind(refresh.as_ref().map(|s| &s.key_id))
    .bind(g.tokens.refresh_expires_at)
    .bind(&g.tokens.scopes)
    .bind(&g.tokens.extra)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, tenant_id, provider_id, client_pk, subject, user_context, status, version, upstream_access_expires_at";

fn from_row(row: &PgRow) -> Result<Grant, StoreError> {
    Ok(Grant {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        provider_id: row.try_get("provider_id")?,
        client_pk: row.try_get("client_pk")?,
        subject: row.try_get("subject")?,
        user_context: row.try_get("user_context")?,
        status: GrantStatus::parse(row.try_get("status")?),
        version: row.try_get("version")?,
        upstream_access_expires_at: row.try_get("upstream_access_expires_at")?,
    })
}

/// Works on the pool or inside a transaction (callers holding a transaction must not take a
/// second connection: under load that starves the pool).
pub async fn find<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<Grant>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM grants WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The grant's current upstream access token, opened.
pub async fn upstream_access_token(
    pool: &PgPool,
    sealer: &Sealer,
    id: Uuid,
) -> Result<Option<(String, Option<DateTime<Utc>>)>, StoreError> {
    let row: Option<(Vec<u8>, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT upstream_access_token, upstream_access_key_id, upstream_access_expires_at FROM grants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((blob, key_id, expires)) = row else {
        return Ok(None);
    };
    let token = sealer
        .open_string(&Sealed { key_id, blob }, &aad(id, "access"))
        .map_err(|e| StoreError::Corrupt(format!("grant {id} access token: {e}")))?;
    Ok(Some((token, expires)))
}

/// Marks a grant revoked and revokes every token issued from it. Returns whether it was active.
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE grants SET status = 'revoked', revoked_at = $2, updated_at = $2, version = version + 1
         WHERE id = $1 AND status <> 'revoked'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE refresh_token_families SET revoked_at = $2, revoked_reason = 'grant_revoked' WHERE grant_id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Provider data kept from token responses (Salesforce `instance_url`, …) and the provider id.
pub async fn upstream_extra(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(Uuid, serde_json::Value)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT provider_id, upstream_extra FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}
