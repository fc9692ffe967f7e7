//! Consents users gave clients, recorded after login.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;

/// Records (or widens) a user's consent for a client and MCP server.
pub async fn record(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    client_pk: Uuid,
    subject: &str,
    mcp_server_id: Uuid,
    scopes: &[String],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO consents (id, tenant_id, client_pk, subject, mcp_server_id, scopes)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (client_pk, subject, mcp_server_id) DO UPDATE SET
             scopes = ARRAY(SELECT DISTINCT unnest(CASE WHEN consents.revoked_at IS NULL
                                                        THEN consents.scopes ELSE '{}' END || EXCLUDED.scopes) ORDER BY 1),
             granted_at = now(), revoked_at = NULL",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(client_pk)
    .bind(subject)
    .bind(mcp_server_id)
    .bind(scopes)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the user already consented to at least `scopes` for this client and server.
pub async fn covers(
    pool: &PgPool,
    client_pk: Uuid,
    subject: &str,
    mcp_server_id: Uuid,
    scopes: &[String],
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM consents WHERE client_pk = $1 AND subject = $2
             AND mcp_server_id = $3 AND revoked_at IS NULL AND scopes @> $4)",
    )
    .bind(client_pk)
    .bind(subject)
    .bind(mcp_server_id)
    .bind(scopes)
    .fetch_one(pool)
    .await?)
}
