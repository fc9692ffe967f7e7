//! Tenant JWT signing keys (`signing_keys`, private halves sealed), and [`KeyRecord`], their
//! public information as the admin API lists it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::crypto::{Sealed, signing::PublicJwk};

/// Inserts `key` as the tenant's active key unless the tenant already has one (another replica
/// may have created it concurrently). Returns whether this call inserted it.
#[tracing::instrument(name = "db.signing_keys.insert_if_no_active", skip_all)]
pub async fn insert_if_no_active(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kid: &str,
    private_key: &Sealed,
    public: &PublicJwk,
) -> Result<bool, StoreError> {
    let public = serde_json::to_value(public).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let done = sqlx::query!(
        "INSERT INTO signing_keys (kid, tenant_id, private_key, private_key_key_id, public_jwk)
         SELECT $1, $2, $3, $4, $5
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE tenant_id = $2 AND status = 'active')
         ON CONFLICT DO NOTHING",
        kid,
        tenant_id,
        &private_key.blob,
        &private_key.key_id,
        public,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The tenant's published keys: the active one and retired ones still within `publish_until`.
#[tracing::instrument(name = "db.signing_keys.published", skip_all)]
pub async fn published(pool: &sqlx::PgPool, tenant_id: Uuid) -> Result<Vec<PublicJwk>, StoreError> {
    let rows = sqlx::query_scalar!(
        "SELECT public_jwk FROM signing_keys
         WHERE tenant_id = $1 AND (status = 'active' OR publish_until > now())
         ORDER BY created_at DESC",
        tenant_id,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("public jwk: {e}")))
        })
        .collect()
}

/// The tenant's active key: its kid and sealed private key.
#[tracing::instrument(name = "db.signing_keys.active", skip_all)]
pub async fn active(
    pool: &sqlx::PgPool,
    tenant_id: Uuid,
) -> Result<Option<(String, Sealed)>, StoreError> {
    let row = sqlx::query!(
        "SELECT kid, private_key, private_key_key_id FROM signing_keys WHERE tenant_id = $1 AND status = 'active'",
        tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        (
            r.kid,
            Sealed {
                key_id: r.private_key_key_id,
                blob: r.private_key,
            },
        )
    }))
}

/// Retires the tenant's active key (it stays published until `publish_until`) and makes
/// `key` the active one, atomically. Returns the retired kid, if there was one.
#[tracing::instrument(name = "db.signing_keys.rotate", skip_all)]
pub async fn rotate(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    publish_until: chrono::DateTime<chrono::Utc>,
    kid: &str,
    private_key: &Sealed,
    public: &PublicJwk,
) -> Result<Option<String>, StoreError> {
    let retired: Option<String> = sqlx::query_scalar!(
        "UPDATE signing_keys SET status = 'retired', retired_at = now(), publish_until = $2
         WHERE tenant_id = $1 AND status = 'active' RETURNING kid",
        tenant_id,
        publish_until,
    )
    .fetch_optional(&mut *conn)
    .await?;
    insert_if_no_active(conn, tenant_id, kid, private_key, public).await?;
    Ok(retired)
}

/// A signing key's public information (never the sealed private key).
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub kid: String,
    pub algorithm: String,
    pub status: String,
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub publish_until: Option<DateTime<Utc>>,
}

/// Every key of a tenant, newest first.
#[tracing::instrument(name = "db.signing_keys.list_records", skip_all)]
pub async fn list_records(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<KeyRecord>, StoreError> {
    Ok(sqlx::query_as!(
        KeyRecord,
        "SELECT kid, algorithm, status, public_jwk, created_at, retired_at, publish_until
         FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, kid",
        tenant_id,
    )
    .fetch_all(pool)
    .await?)
}
