//! OAuth clients, consents and signing keys as the admin API lists and removes them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;

/// A registered client, without its secret or registration token hashes.
#[derive(Clone, Debug)]
pub struct ClientRecord {
    pub id: Uuid,
    pub client_id: String,
    pub kind: String,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: String,
    pub application_type: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const CLIENT_COLUMNS: &str = "id, client_id, kind, client_name, token_endpoint_auth_method,
    application_type, redirect_uris, grant_types, scope, created_at, last_used_at";

fn client_from_row(r: &PgRow) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        kind: r.try_get("kind")?,
        client_name: r.try_get("client_name")?,
        token_endpoint_auth_method: r.try_get("token_endpoint_auth_method")?,
        application_type: r.try_get("application_type")?,
        redirect_uris: r.try_get("redirect_uris")?,
        grant_types: r.try_get("grant_types")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

/// Up to `limit` clients of a tenant after `(created_at, id)`, oldest first.
pub async fn list_clients(
    pool: &PgPool,
    tenant_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ClientRecord>, StoreError> {
    let (after_t, after_id) = after.unzip();
    let rows = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after_t)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(client_from_row).collect()
}

pub async fn find_client(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<ClientRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(client_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(client_from_row).transpose()
}

/// Deletes a client; its grants, codes, refresh families and access tokens go by cascade.
pub async fn delete_client(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub subject: String,
    pub client_id: String,
    pub mcp_server: Option<String>,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const CONSENT_SELECT: &str = "SELECT k.id, k.subject, c.client_id, s.name AS mcp_server, k.scopes,
        k.granted_at, k.revoked_at
    FROM consents k JOIN oauth_clients c ON c.id = k.client_pk
    LEFT JOIN mcp_servers s ON s.id = k.mcp_server_id";

fn consent_from_row(r: &PgRow) -> Result<ConsentRecord, StoreError> {
    Ok(ConsentRecord {
        id: r.try_get("id")?,
        subject: r.try_get("subject")?,
        client_id: r.try_get("client_id")?,
        mcp_server: r.try_get("mcp_server")?,
        scopes: r.try_get("scopes")?,
        granted_at: r.try_get("granted_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// The consents of a tenant, optionally of one user and/or one client (at most 1000).
pub async fn list_consents(
    pool: &PgPool,
    tenant_id: Uuid,
    subject: Option<&str>,
    client_id: Option<&str>,
) -> Result<Vec<ConsentRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "{CONSENT_SELECT} WHERE k.tenant_id = $1 AND ($2::text IS NULL OR k.subject = $2)
           AND ($3::text IS NULL OR c.client_id = $3)
         ORDER BY k.granted_at, k.id LIMIT 1000"
    ))
    .bind(tenant_id)
    .bind(subject)
    .bind(client_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(consent_from_row).collect()
}

/// Marks a consent revoked (the user is asked again next time); `None` if there is none.
pub async fn revoke_consent(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<ConsentRecord>, StoreError> {
    let done = sqlx::query(
        "UPDATE consents SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{CONSENT_SELECT} WHERE k.id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    consent_from_row(&row).map(Some)
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

pub async fn list_keys(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<KeyRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT kid, algorithm, status, public_jwk, created_at, retired_at, publish_until
         FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, kid",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRecord {
                kid: r.try_get("kid")?,
                algorithm: r.try_get("algorithm")?,
                status: r.try_get("status")?,
                public_jwk: r.try_get("public_jwk")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
                publish_until: r.try_get("publish_until")?,
            })
        })
        .collect()
}
