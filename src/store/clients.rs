//! OAuth clients (`oauth_clients`): dynamic registrations, metadata-document clients, static
//! clients; and [`ClientRecord`], the metadata the admin API lists (keyset on
//! `(created_at, id)`) and deletes, never the secret or registration-token hashes.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{ApplicationType, AuthMethod, Client, ClientKind, GrantType, RedirectUri};

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

/// A row as `query_as!` reads it; [`ClientRow::into_domain`] parses kind, auth method,
/// application type and grant types once.
struct ClientRow {
    id: Uuid,
    tenant_id: Uuid,
    client_id: String,
    kind: String,
    client_secret_hash: Option<Vec<u8>>,
    token_endpoint_auth_method: String,
    application_type: String,
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scope: Option<String>,
    metadata: serde_json::Value,
}

impl ClientRow {
    fn into_domain(self) -> Result<Client, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("oauth_clients.{what}"));
        Ok(Client {
            id: self.id,
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            kind: ClientKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            auth_method: AuthMethod::parse(&self.token_endpoint_auth_method)
                .ok_or_else(|| corrupt("token_endpoint_auth_method"))?,
            application_type: ApplicationType::parse(&self.application_type)
                .ok_or_else(|| corrupt("application_type"))?,
            client_name: self.client_name,
            redirect_uris: self
                .redirect_uris
                .into_iter()
                .map(RedirectUri::from_trusted)
                .collect(),
            grant_types: GrantType::parse_all(&self.grant_types)
                .ok_or_else(|| corrupt("grant_types"))?,
            scope: self.scope,
            metadata: self.metadata,
            secret_hash: self.client_secret_hash,
        })
    }
}

/// Inserts a client; for metadata documents an existing row with the same URL is refreshed.
#[tracing::instrument(name = "db.clients.upsert", skip_all)]
pub async fn upsert(pool: &PgPool, c: &NewClient<'_>) -> Result<Client, StoreError> {
    let row = sqlx::query_as!(
        ClientRow,
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
         RETURNING id, tenant_id, client_id, kind, client_secret_hash, token_endpoint_auth_method,
             application_type, client_name, redirect_uris, grant_types, scope, metadata",
        Uuid::new_v4(),
        c.tenant_id,
        c.client_id,
        c.kind.as_str(),
        c.secret_hash.as_deref(),
        c.auth_method.as_str(),
        c.application_type.as_str(),
        c.client_name,
        &c.redirect_uris,
        &c.grant_types,
        c.scope,
        &c.metadata,
        c.registration_token_hash.as_deref(),
        c.metadata_expires_at,
        c.registered_from.as_deref(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(ClientRow::into_domain).transpose()?.ok_or_else(|| {
        StoreError::Corrupt("client id already taken by another kind of client".into())
    })
}

#[tracing::instrument(name = "db.clients.find", skip_all)]
pub async fn find(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query_as!(
        ClientRow,
        "SELECT id, tenant_id, client_id, kind, client_secret_hash, token_endpoint_auth_method,
             application_type, client_name, redirect_uris, grant_types, scope, metadata
         FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2",
        tenant_id,
        client_id,
    )
    .fetch_optional(pool)
    .await?;
    row.map(ClientRow::into_domain).transpose()
}

/// A metadata-document client whose cached document is still fresh at `now`.
#[tracing::instrument(name = "db.clients.find_fresh_document", skip_all)]
pub async fn find_fresh_document(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query_as!(
        ClientRow,
        "SELECT id, tenant_id, client_id, kind, client_secret_hash, token_endpoint_auth_method,
             application_type, client_name, redirect_uris, grant_types, scope, metadata
         FROM oauth_clients
         WHERE tenant_id = $1 AND client_id = $2 AND kind = 'metadata_document' AND metadata_expires_at > $3",
        tenant_id,
        client_id,
        now,
    )
    .fetch_optional(pool)
    .await?;
    row.map(ClientRow::into_domain).transpose()
}

#[tracing::instrument(name = "db.clients.registration_token_hash", skip_all)]
pub async fn registration_token_hash(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT registration_token_hash FROM oauth_clients
         WHERE tenant_id = $1 AND client_id = $2 AND kind = 'dynamic'",
        tenant_id,
        client_id,
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

#[tracing::instrument(name = "db.clients.count_dynamic", skip_all)]
pub async fn count_dynamic(pool: &PgPool, tenant_id: Uuid) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM oauth_clients WHERE tenant_id = $1 AND kind = 'dynamic'"#,
        tenant_id,
    )
    .fetch_one(pool)
    .await?)
}

/// Deletes a client; its grants, codes and tokens go with it (foreign keys cascade). Returns
/// the deleted row's id (the `ClientChanged` event names it).
#[tracing::instrument(name = "db.clients.delete", skip_all)]
pub async fn delete(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        "DELETE FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2 RETURNING id",
        tenant_id,
        client_id,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Records use, so the sweeper can tell clients that were registered and never used.
#[tracing::instrument(name = "db.clients.touch", skip_all)]
pub async fn touch(pool: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE oauth_clients SET last_used_at = $2
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')",
        id,
        now,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A client by its row id (what pending authorizations, codes and grants reference).
#[tracing::instrument(name = "db.clients.find_by_pk", skip_all)]
pub async fn find_by_pk(pool: &PgPool, id: Uuid) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query_as!(
        ClientRow,
        "SELECT id, tenant_id, client_id, kind, client_secret_hash, token_endpoint_auth_method,
             application_type, client_name, redirect_uris, grant_types, scope, metadata
         FROM oauth_clients WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    row.map(ClientRow::into_domain).transpose()
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

/// Up to `limit` clients of a tenant after `(created_at, id)`, oldest first.
#[tracing::instrument(name = "db.clients.list_records", skip_all)]
pub async fn list_records(
    pool: &PgPool,
    tenant_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ClientRecord>, StoreError> {
    let (after_t, after_id) = after.unzip();
    Ok(sqlx::query_as!(
        ClientRecord,
        "SELECT id, client_id, kind, client_name, token_endpoint_auth_method, application_type,
             redirect_uris, grant_types, scope, created_at, last_used_at
         FROM oauth_clients WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4",
        tenant_id,
        after_t,
        after_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// The client `client_id` of a tenant, its row locked until the transaction ends (the admin
/// API deletes it next).
#[tracing::instrument(name = "db.clients.find_record_for_update", skip_all)]
pub async fn find_record_for_update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<ClientRecord>, StoreError> {
    Ok(sqlx::query_as!(
        ClientRecord,
        "SELECT id, client_id, kind, client_name, token_endpoint_auth_method, application_type,
             redirect_uris, grant_types, scope, created_at, last_used_at
         FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE",
        tenant_id,
        client_id,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Deletes a client; its grants, codes, refresh families and access tokens go by cascade.
#[tracing::instrument(name = "db.clients.delete_by_pk", skip_all)]
pub async fn delete_by_pk(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!("DELETE FROM oauth_clients WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
