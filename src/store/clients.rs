//! OAuth clients (`oauth_clients`): dynamic registrations, metadata-document clients, static
//! clients; and [`ClientRecord`], the metadata the admin API lists (keyset on
//! `(created_at, id)`) and deletes, never the secret or registration-token hashes.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{ApplicationType, AuthMethod, Client, ClientKind, RedirectUri};

/// A client to insert; hashes are computed by the caller.
pub struct NewClient<'a> {
    pub tenant_id: Uuid,
    pub client_id: &'a str,
    pub kind: ClientKind,
    pub secret_hash: Option<Vec<u8>>,
    pub auth_method: AuthMethod,
    pub application_type: ApplicationType,
    pub client_name: Option<&'a str>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Option<&'a str>,
    pub metadata: serde_json::Value,
    pub registration_token_hash: Option<Vec<u8>>,
    pub metadata_expires_at: Option<DateTime<Utc>>,
    pub registered_from: Option<String>,
}

const COLUMNS: &str =
    "id, tenant_id, client_id, kind, client_secret_hash, token_endpoint_auth_method,
    application_type, client_name, redirect_uris, grant_types, scope, metadata";

fn from_row(row: &PgRow) -> Result<Client, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("oauth_clients.{what}"));
    let uris: Vec<String> = row.try_get("redirect_uris")?;
    Ok(Client {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        client_id: row.try_get("client_id")?,
        kind: ClientKind::parse(row.try_get("kind")?).ok_or_else(|| corrupt("kind"))?,
        auth_method: AuthMethod::parse(row.try_get("token_endpoint_auth_method")?)
            .ok_or_else(|| corrupt("token_endpoint_auth_method"))?,
        application_type: ApplicationType::parse(row.try_get("application_type")?)
            .ok_or_else(|| corrupt("application_type"))?,
        client_name: row.try_get("client_name")?,
        redirect_uris: uris.into_iter().map(RedirectUri::from_trusted).collect(),
        grant_types: crate::domain::GrantType::parse_all(
            &row.try_get::<Vec<String>, _>("grant_types")?,
        )
        .ok_or_else(|| corrupt("grant_types"))?,
        scope: row.try_get("scope")?,
        metadata: row.try_get("metadata")?,
        secret_hash: row.try_get("client_secret_hash")?,
    })
}

/// Inserts a client; for metadata documents an existing row with the same URL is refreshed.
#[tracing::instrument(name = "db.clients.upsert", skip_all)]
pub async fn upsert(pool: &PgPool, c: &NewClient<'_>) -> Result<Client, StoreError> {
    let row = sqlx::query(&format!(
        "INSERT INTO oauth_clients (id, tenant_id, client_id, kind, client_secret_hash,
             token_endpoint_auth_method, application_type, client_name, redirect_uris, grant_types,
             scope, metadata, registration_token_hash, metadata_expires_at, registered_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (tenant_id, client_id) DO UPDATE SET
             client_name = EXCLUDED.client_name, redirect_uris = EXCLUDED.redirect_uris,
             grant_types = EXCLUDED.grant_types, scope = EXCLUDED.scope, metadata = EXCLUDED.metadata,
             application_type = EXCLUDED.application_type,
             token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
             metadata_expires_at = EXCLUDED.metadata_expires_at
         WHERE oauth_clients.kind = 'metadata_document' AND EXCLUDED.kind = 'metadata_document'
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(c.tenant_id)
    .bind(c.client_id)
    .bind(c.kind.as_str())
    .bind(&c.secret_hash)
    .bind(c.auth_method.as_str())
    .bind(c.application_type.as_str())
    .bind(c.client_name)
    .bind(&c.redirect_uris)
    .bind(&c.grant_types)
    .bind(c.scope)
    .bind(&c.metadata)
    .bind(&c.registration_token_hash)
    .bind(c.metadata_expires_at)
    .bind(&c.registered_from)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()?.ok_or_else(|| {
        StoreError::Corrupt("client id already taken by another kind of client".into())
    })
}

#[tracing::instrument(name = "db.clients.find", skip_all)]
pub async fn find(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2"
    ))
    .bind(tenant_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A metadata-document client whose cached document is still fresh at `now`.
#[tracing::instrument(name = "db.clients.find_fresh_document", skip_all)]
pub async fn find_fresh_document(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM oauth_clients
         WHERE tenant_id = $1 AND client_id = $2 AND kind = 'metadata_document' AND metadata_expires_at > $3"
    ))
    .bind(tenant_id)
    .bind(client_id)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

#[tracing::instrument(name = "db.clients.registration_token_hash", skip_all)]
pub async fn registration_token_hash(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT registration_token_hash FROM oauth_clients
         WHERE tenant_id = $1 AND client_id = $2 AND kind = 'dynamic'",
    )
    .bind(tenant_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await?
    .flatten())
}

#[tracing::instrument(name = "db.clients.count_dynamic", skip_all)]
pub async fn count_dynamic(pool: &PgPool, tenant_id: Uuid) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM oauth_clients WHERE tenant_id = $1 AND kind = 'dynamic'",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?)
}

/// Deletes a client; its grants, codes and tokens go with it (foreign keys cascade).
#[tracing::instrument(name = "db.clients.delete", skip_all)]
pub async fn delete(pool: &PgPool, tenant_id: Uuid, client_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2")
        .bind(tenant_id)
        .bind(client_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records use, so the sweeper can tell clients that were registered and never used.
#[tracing::instrument(name = "db.clients.touch", skip_all)]
pub async fn touch(pool: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE oauth_clients SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - interval '1 minute')")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// A client by its row id (what pending authorizations, codes and grants reference).
#[tracing::instrument(name = "db.clients.find_by_pk", skip_all)]
pub async fn find_by_pk(pool: &PgPool, id: Uuid) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM oauth_clients WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

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

const RECORD_COLUMNS: &str = "id, client_id, kind, client_name, token_endpoint_auth_method,
    application_type, redirect_uris, grant_types, scope, created_at, last_used_at";

fn record_from_row(r: &PgRow) -> Result<ClientRecord, StoreError> {
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
#[tracing::instrument(name = "db.clients.list_records", skip_all)]
pub async fn list_records(
    pool: &PgPool,
    tenant_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ClientRecord>, StoreError> {
    let (after_t, after_id) = after.unzip();
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM oauth_clients WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after_t)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(record_from_row).collect()
}

/// The client `client_id` of a tenant, its row locked until the transaction ends (the admin
/// API deletes it next).
#[tracing::instrument(name = "db.clients.find_record_for_update", skip_all)]
pub async fn find_record_for_update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<ClientRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(client_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(record_from_row).transpose()
}

/// Deletes a client; its grants, codes, refresh families and access tokens go by cascade.
#[tracing::instrument(name = "db.clients.delete_by_pk", skip_all)]
pub async fn delete_by_pk(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
