//! MCP servers (`mcp_servers`): the rows the configuration file and the admin API write
//! through one upsert, the token-exchange credentials (a hash), and the listings (the domain
//! [`McpServer`] the gateway uses, [`ServerRow`]s with their provider's name for the admin API).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    StoreError,
    upsert::{Upserted, Write, conflict_or},
};
use crate::domain::{McpServer, ResourceName, tenant::Source};

/// An MCP server row with its provider's name. The token-exchange secret stays a hash. On
/// write, `provider` (the name), `source` and the timestamps are ignored: `provider_id` is what
/// is stored, the writer owns the row and the database keeps the times.
#[derive(Clone, Debug)]
pub struct ServerRow {
    pub id: Uuid,
    pub name: String,
    pub upstream_url: String,
    pub provider_id: Option<Uuid>,
    pub provider: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub required_scopes: Vec<String>,
    pub forward_upstream_token: bool,
    pub exchange_client_id: Option<String>,
    pub exchange_secret_hash: Option<Vec<u8>>,
    /// Whether it has its own authorization server (`remote_oauth_servers`, issue 18). Read
    /// only: written through `store::remote_registrations`.
    pub remote_oauth: bool,
    pub source: Source,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServerRow {
    /// The server as the gateway uses it, its name and URL parsed once (a row that does not
    /// parse was not written here: both are validated before they are stored).
    fn into_domain(self, tenant_id: Uuid) -> Result<McpServer, StoreError> {
        Ok(McpServer {
            id: self.id,
            tenant_id,
            name: ResourceName::parse(&self.name)
                .map_err(|_| StoreError::Corrupt(format!("server name {:?}", self.name)))?,
            upstream_url: url::Url::parse(&self.upstream_url)
                .map_err(|_| StoreError::Corrupt(format!("server {:?} URL", self.name)))?,
            provider_id: self.provider_id,
            scopes: self.scopes,
            required_scopes: self.required_scopes,
            forward_upstream_token: self.forward_upstream_token,
            exchange_client_id: self.exchange_client_id,
            remote_oauth: self.remote_oauth,
        })
    }
}

/// A row as `query_as!` reads it (the provider's name joined in); [`StoredServer::into_row`]
/// parses the source once.
struct StoredServer {
    id: Uuid,
    name: String,
    upstream_url: String,
    provider_id: Option<Uuid>,
    provider: Option<String>,
    scopes: Option<Vec<String>>,
    required_scopes: Vec<String>,
    forward_upstream_token: bool,
    exchange_client_id: Option<String>,
    exchange_secret_hash: Option<Vec<u8>>,
    remote_oauth: bool,
    source: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StoredServer {
    fn into_row(self) -> ServerRow {
        ServerRow {
            id: self.id,
            name: self.name,
            upstream_url: self.upstream_url,
            provider_id: self.provider_id,
            provider: self.provider,
            scopes: self.scopes,
            required_scopes: self.required_scopes,
            forward_upstream_token: self.forward_upstream_token,
            exchange_client_id: self.exchange_client_id,
            exchange_secret_hash: self.exchange_secret_hash,
            remote_oauth: self.remote_oauth,
            source: Source::parse(&self.source),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The one statement that writes a server, keyed on `(tenant_id, name)`, with the same
/// ownership rules as the providers' upsert: a config row only when it differs, an API write
/// only over the row it read (same id). Returns `id` and `inserted` when it wrote.
async fn upsert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    s: &ServerRow,
    source: Source,
) -> Result<Option<Upserted>, sqlx::Error> {
    let row = sqlx::query!(
        r#"INSERT INTO mcp_servers (id, tenant_id, name, upstream_url, provider_id, scopes,
             required_scopes, forward_upstream_token, exchange_client_id, exchange_secret_hash, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (tenant_id, name) DO UPDATE SET
             upstream_url = EXCLUDED.upstream_url, provider_id = EXCLUDED.provider_id,
             scopes = EXCLUDED.scopes, required_scopes = EXCLUDED.required_scopes,
             forward_upstream_token = EXCLUDED.forward_upstream_token,
             exchange_client_id = EXCLUDED.exchange_client_id,
             exchange_secret_hash = EXCLUDED.exchange_secret_hash, source = EXCLUDED.source,
             updated_at = now()
         WHERE CASE EXCLUDED.source
             WHEN 'api' THEN mcp_servers.id = EXCLUDED.id
             ELSE (mcp_servers.upstream_url, mcp_servers.provider_id, mcp_servers.scopes,
                   mcp_servers.required_scopes, mcp_servers.forward_upstream_token,
                   mcp_servers.exchange_client_id, mcp_servers.exchange_secret_hash,
                   mcp_servers.source)
                  IS DISTINCT FROM
                  (EXCLUDED.upstream_url, EXCLUDED.provider_id, EXCLUDED.scopes,
                   EXCLUDED.required_scopes, EXCLUDED.forward_upstream_token,
                   EXCLUDED.exchange_client_id, EXCLUDED.exchange_secret_hash, EXCLUDED.source)
             END
         RETURNING id, (xmax = 0) AS "inserted!""#,
        s.id,
        tenant_id,
        s.name,
        s.upstream_url,
        s.provider_id,
        s.scopes.as_deref(),
        &s.required_scopes,
        s.forward_upstream_token,
        s.exchange_client_id.as_deref(),
        s.exchange_secret_hash.as_deref(),
        source.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| Upserted::from_returning(r.id, r.inserted)))
}

/// Writes a server the configuration declares, as the configuration's.
#[tracing::instrument(name = "db.mcp_servers.upsert_config", skip_all)]
pub async fn upsert_config(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    s: &ServerRow,
) -> Result<Upserted, StoreError> {
    match upsert(conn, tenant_id, s, Source::Config).await? {
        Some(done) => Ok(done),
        None => {
            let id = sqlx::query_scalar!(
                "SELECT id FROM mcp_servers WHERE tenant_id = $1 AND name = $2",
                tenant_id,
                s.name,
            )
            .fetch_one(&mut *conn)
            .await?;
            Ok(Upserted::Unchanged(id))
        }
    }
}

/// Inserts or replaces a server through the admin API (as the API's) and returns it
/// re-read with its provider's name; [`Write::Conflict`] when its name or token-exchange
/// client id is another server's.
#[tracing::instrument(name = "db.mcp_servers.save", skip_all)]
pub async fn save(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    s: &ServerRow,
) -> Result<Write<ServerRow>, StoreError> {
    match upsert(conn, tenant_id, s, Source::Api).await {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Write::Conflict),
        Err(e) => return conflict_or(e),
    }
    let saved = find(conn, tenant_id, &s.name)
        .await?
        .ok_or_else(|| StoreError::Corrupt("server vanished after save".into()))?;
    Ok(Write::Done(saved))
}

/// Every server row of a tenant, by name.
#[tracing::instrument(name = "db.mcp_servers.list_rows", skip_all)]
pub async fn list_rows(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<ServerRow>, StoreError> {
    let rows = sqlx::query_as!(
        StoredServer,
        r#"SELECT s.id, s.name, s.upstream_url, s.provider_id, p.name AS "provider?",
             s.scopes, s.required_scopes, s.forward_upstream_token, s.exchange_client_id,
             s.exchange_secret_hash, s.source, s.created_at, s.updated_at,
             EXISTS (SELECT 1 FROM remote_oauth_servers r WHERE r.mcp_server_id = s.id)
                 AS "remote_oauth!"
         FROM mcp_servers s LEFT JOIN upstream_providers p ON p.id = s.provider_id
         WHERE s.tenant_id = $1 ORDER BY s.name"#,
        tenant_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(StoredServer::into_row).collect())
}

/// Every server of a tenant as the gateway uses it, by name.
#[tracing::instrument(name = "db.mcp_servers.list", skip_all)]
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<McpServer>, StoreError> {
    list_rows(pool, tenant_id)
        .await?
        .into_iter()
        .map(|s| s.into_domain(tenant_id))
        .collect()
}

#[tracing::instrument(name = "db.mcp_servers.find", skip_all)]
pub async fn find(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<ServerRow>, StoreError> {
    let row = sqlx::query_as!(
        StoredServer,
        r#"SELECT s.id, s.name, s.upstream_url, s.provider_id, p.name AS "provider?",
             s.scopes, s.required_scopes, s.forward_upstream_token, s.exchange_client_id,
             s.exchange_secret_hash, s.source, s.created_at, s.updated_at,
             EXISTS (SELECT 1 FROM remote_oauth_servers r WHERE r.mcp_server_id = s.id)
                 AS "remote_oauth!"
         FROM mcp_servers s LEFT JOIN upstream_providers p ON p.id = s.provider_id
         WHERE s.tenant_id = $1 AND s.name = $2"#,
        tenant_id,
        name,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(StoredServer::into_row))
}

/// The MCP server whose RFC 8693 / introspection credentials carry this client id, with the
/// stored hash of its secret.
#[tracing::instrument(name = "db.mcp_servers.find_by_exchange_client", skip_all)]
pub async fn find_by_exchange_client(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<(Uuid, String, Vec<u8>)>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, name, exchange_secret_hash AS "exchange_secret_hash!" FROM mcp_servers
         WHERE tenant_id = $1 AND exchange_client_id = $2 AND exchange_secret_hash IS NOT NULL"#,
        tenant_id,
        client_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.id, r.name, r.exchange_secret_hash)))
}

/// Deletes a server; the tokens issued for it go by cascade. Returns whether a row went.
#[tracing::instrument(name = "db.mcp_servers.delete", skip_all)]
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!("DELETE FROM mcp_servers WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the config-owned servers of a tenant that the configuration no longer declares;
/// rows created through the API are left alone. Returns how many went.
#[tracing::instrument(name = "db.mcp_servers.prune_config", skip_all)]
pub async fn prune_config(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    declared: &[String],
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM mcp_servers WHERE tenant_id = $1 AND source = 'config' AND NOT (name = ANY($2))",
        tenant_id,
        declared,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
