//! Which stored secrets were sealed with a key that is not configured: the start-up check of
//! `crate::missing_keys`, and what it does when the operator allows starting anyway.
//!
//! Only rows whose secret can still be needed count: grants that are active, active signing
//! keys (a retired key's private half is never used again), provider secrets, pending
//! authorizations and refresh-token grace responses that have not expired.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;

/// Rows of one kind sealed with one key that is not configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnopenableRows {
    pub key_id: String,
    /// What the rows hold, in words for the log ("grant upstream tokens", "signing keys", …).
    pub what: String,
    pub count: i64,
}

/// Every kind of sealed row whose key id is not in `configured`, by key id and kind.
#[tracing::instrument(name = "db.sealed_keys.unopenable", skip_all)]
pub async fn unopenable(
    pool: &PgPool,
    configured: &[String],
) -> Result<Vec<UnopenableRows>, StoreError> {
    Ok(sqlx::query_as!(
        UnopenableRows,
        r#"SELECT key_id AS "key_id!", what AS "what!", count(*) AS "count!" FROM (
             SELECT upstream_access_key_id AS key_id, 'grant upstream tokens' AS what
               FROM grants WHERE status = 'active'
             UNION ALL
             SELECT upstream_refresh_key_id, 'grant upstream tokens'
               FROM grants WHERE status = 'active' AND upstream_refresh_key_id IS NOT NULL
                 AND upstream_refresh_key_id <> upstream_access_key_id
             UNION ALL
             SELECT private_key_key_id, 'tenant signing keys'
               FROM signing_keys WHERE status = 'active'
             UNION ALL
             SELECT client_secret_key_id, 'provider client secrets'
               FROM upstream_providers WHERE client_secret_key_id IS NOT NULL
             UNION ALL
             SELECT upstream_pkce_key_id, 'pending authorizations'
               FROM pending_authorizations
              WHERE upstream_pkce_key_id IS NOT NULL AND expires_at > now()
             UNION ALL
             SELECT grace_response_key_id, 'refresh-token grace responses'
               FROM refresh_tokens
              WHERE grace_response_key_id IS NOT NULL AND grace_until > now()
         ) sealed
         WHERE key_id <> ALL($1)
         GROUP BY key_id, what
         ORDER BY key_id, what"#,
        configured,
    )
    .fetch_all(pool)
    .await?)
}

/// Active grants holding an upstream token sealed with a key not in `configured` become
/// `needs_reauth`: the gateway then answers them with the 401 re-authorize challenge. Returns
/// how many.
#[tracing::instrument(name = "db.sealed_keys.grants_need_reauth", skip_all)]
pub async fn grants_need_reauth(pool: &PgPool, configured: &[String]) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "UPDATE grants SET status = 'needs_reauth', version = version + 1, updated_at = now()
         WHERE status = 'active'
           AND (upstream_access_key_id <> ALL($1)
                OR (upstream_refresh_key_id IS NOT NULL AND upstream_refresh_key_id <> ALL($1)))",
        configured,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A tenant whose active signing key was sealed with a key that is not configured.
#[derive(Clone, Debug)]
pub struct UnopenableSigningKey {
    pub tenant_id: Uuid,
    pub kid: String,
    pub key_id: String,
}

#[tracing::instrument(name = "db.sealed_keys.unopenable_signing_keys", skip_all)]
pub async fn unopenable_signing_keys(
    pool: &PgPool,
    configured: &[String],
) -> Result<Vec<UnopenableSigningKey>, StoreError> {
    Ok(sqlx::query_as!(
        UnopenableSigningKey,
        "SELECT tenant_id, kid, private_key_key_id AS key_id FROM signing_keys
         WHERE status = 'active' AND private_key_key_id <> ALL($1)",
        configured,
    )
    .fetch_all(pool)
    .await?)
}

/// Until when a key retired now must stay published so every token it signed still verifies:
/// now plus the tenant's access-token lifetime (its override, else `default_ttl`).
#[tracing::instrument(name = "db.sealed_keys.publish_until_for_tenant", skip_all)]
pub async fn publish_until_for_tenant(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    default_ttl: chrono::Duration,
) -> Result<DateTime<Utc>, StoreError> {
    let ttl: Option<i64> = sqlx::query_scalar!(
        "SELECT access_token_ttl_seconds FROM tenants WHERE id = $1",
        tenant_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    let ttl = ttl.map_or(default_ttl, chrono::Duration::seconds);
    Ok(Utc::now() + ttl.max(default_ttl))
}
