//! Tenant JWT signing keys (private halves sealed).

use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::crypto::{Sealed, signing::PublicJwk};

/// Inserts `key` as the tenant's active key unless the tenant already has one (another replica
/// may have created it concurrently). Returns whether this call inserted it.
pub async fn insert_if_no_active(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kid: &str,
    private_key: &Sealed,
    public: &PublicJwk,
) -> Result<bool, StoreError> {
    let public = serde_json::to_value(public).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let done = sqlx::query(
        "INSERT INTO signing_keys (kid, tenant_id, private_key, private_key_key_id, public_jwk)
         SELECT $1, $2, $3, $4, $5
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE tenant_id = $2 AND status = 'active')
         ON CONFLICT DO NOTHING",
    )
    .bind(kid)
    .bind(tenant_id)
    .bind(&private_key.blob)
    .bind(&private_key.key_id)
    .bind(public)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The tenant's published keys: the active one and retired ones still within `publish_until`.
pub async fn published(
    conn: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<Vec<PublicJwk>, StoreError> {
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(
        "SELECT public_jwk FROM signing_keys
         WHERE tenant_id = $1 AND (status = 'active' OR publish_until > now())
         ORDER BY created_at DESC",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(v,)| {
            serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("public jwk: {e}")))
        })
        .collect()
}
